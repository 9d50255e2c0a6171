package cli

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) engagementCmd() *cobra.Command {
	var breakdown string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "engagement ID",
		Short: "Show who read, acknowledged, reacted to and replied to a broadcast",
		Long: `Show a broadcast's engagement: the recipients who read it (from Teams' read
receipts: only for recipients whose receipts are on is "unread" known), who
pressed its acknowledge button, reacted and replied; reads and
acknowledgements per minute for the first hour of the send, per hour after;
with --breakdown department, the same per department of the directory.`,
		Example: `  bcast engagement 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d
  bcast engagement 6f1c0d2e-8c1b-4a7e-9d55-0b1f3e2a4c6d --breakdown department`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if breakdown != "" && breakdown != "department" {
				return usageError("--breakdown: must be department, got %q", breakdown)
			}
			r, err := a.client.Engagement(cmd.Context(), args[0], breakdown)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			a.describeEngagement(r)
			return nil
		},
	}
	cmd.Flags().StringVar(&breakdown, "breakdown", "", "department: break the counts down by the directory's department")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the engagement as the API gives it")
	return cmd
}

func (a *app) describeEngagement(r *EngagementReport) {
	c := r.Counts
	a.printf("id            %s\n", r.BroadcastID)
	a.printf("delivered     %d\n", r.Delivered)
	a.printf("receipts on   %d (unread is known for them only)\n", c.ReceiptsOn)
	a.printf("read          %s\n", share(c.Read, r.Delivered))
	a.printf("acknowledged  %s\n", share(c.Acknowledged, r.Delivered))
	a.printf("reacted       %s%s\n", share(c.Reacted, r.Delivered), reactionsList(c.Reactions))
	a.printf("replied       %s, %d replies\n", share(c.Replied, r.Delivered), c.Replies)
	a.printf("actions       %d by %d recipients\n", c.Actions, c.Acted)
	if len(r.Series.PerMinute)+len(r.Series.PerHour) > 0 {
		a.printf("\nsince %s   read  acknowledged\n", r.Since.Format(time.RFC3339))
		for _, p := range r.Series.PerMinute {
			a.printf("  %s  %6d  %12d\n", p.At.Format("2006-01-02 15:04"), p.Read, p.Acknowledged)
		}
		for _, p := range r.Series.PerHour {
			a.printf("  %s  %6d  %12d  (hour)\n", p.At.Format("2006-01-02 15:04"), p.Read, p.Acknowledged)
		}
	}
	if len(r.Departments) > 0 {
		a.printf("\n%-30s %9s %9s %12s %8s %8s\n", "department", "delivered", "read", "acknowledged", "reacted", "replied")
		for _, d := range r.Departments {
			name := d.Department
			if name == "" {
				name = "(none)"
			}
			a.printf("%-30s %9d %9d %12d %8d %8d\n", name, d.Delivered, d.Read, d.Acknowledged, d.Reacted, d.Replied)
		}
	}
}

func reactionsList(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = t + " " + strconv.FormatInt(m[t], 10)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
