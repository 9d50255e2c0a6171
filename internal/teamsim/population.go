package teamsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// User is one simulated member of a tenant.
type User struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	UPN         string `json:"userPrincipalName"`
	UserType    string `json:"userType"`  // "Member" or "Guest"
	Installed   bool   `json:"installed"` // the app is installed for the user now
	Blocked     bool   `json:"blocked"`   // the user blocked the bot
	Disabled    bool   `json:"disabled"`  // an admin policy disables the bot for the user
	// BlockShape is how a blocked user's sends are refused: "code"
	// (ConversationBlockedByUser) or "209" (errorCode 209
	// MessageWritesBlocked); empty for users who did not block the bot.
	BlockShape string `json:"blockShape,omitempty"`

	// Directory profile, as Graph returns it.
	GivenName  string `json:"givenName,omitempty"`
	Surname    string `json:"surname,omitempty"`
	Mail       string `json:"mail,omitempty"`
	JobTitle   string `json:"jobTitle,omitempty"`
	Department string `json:"department,omitempty"`
	// AccountEnabled is false for an account an admin disabled (it cannot
	// sign in; Graph still lists it).
	AccountEnabled bool `json:"accountEnabled"`
}

// Block shapes.
const (
	BlockShapeCode = "code"
	BlockShape209  = "209"
)

// guestFraction of each tenant's users are guests (userType Guest).
const guestFraction = 0.01

// tenantState is one simulated tenant. The directory (users, byKey,
// groups and the change log of delta queries) is guarded by dir: it
// changes only through AddUser, ChangeUser and RemoveUser.
type tenantState struct {
	id        string
	domain    string // <something>.onmicrosoft.com
	catalogID string // the app's id in this tenant's catalog

	dir      sync.RWMutex
	users    []*userState          // in id order
	byKey    map[string]*userState // lower-case id and lower-case UPN
	delta    deltaLog
	groups   []*groupState // as configured
	groupIDs map[string]*groupState
	added    int // users added at run time, for their names

	connector *limiter // all Connector calls
	graphGet  *limiter // installedApps GETs
	graphPost *limiter // installedApps POSTs

	mu     sync.Mutex
	faults []Fault // for the next Connector sends to any user (InjectTenant)
}

// userState is a user and everything that changes about them, guarded by mu.
type userState struct {
	tenant *tenantState
	json   userJSON // Graph properties, JSON-encoded once

	mu          sync.Mutex
	u           User // ID, names and flags; Installed follows installed
	gen         int  // installations so far; the current one if installed
	conv        *convRef
	convCreated bool // the Connector create was called for conv
	faults      []Fault
	rng         rand.PCG // fault decisions, deterministic per user
	deliveries  []Delivery
	hashes      map[string]struct{}
	sent        []sentActivity // messages that exist in the chat, for update and delete
	erng        *rand.Rand     // engagement draws (engageRNG)
	engaged     []Engaged
}

type sentActivity struct {
	id      string
	conv    *convRef
	deleted bool
	updates int
	history []string    // content hashes: the send's, then each update's (the last maxHistory)
	action  *cardAction // the card's first Action.Execute, with a bot endpoint
}

// maxHistory bounds the content hashes kept per message.
const maxHistory = 16

// convRef is one installation's 1:1 conversation. Its fields are fixed;
// whether it is still usable is decided by the user's state.
type convRef struct {
	user           *userState
	gen            int
	connectorID    string // "a:..." as Connector's create conversation answers
	chatID         string // "19:...@unq.gbl.spaces" as Graph answers
	installationID string
	created        time.Time
	lim            *limiter // per-conversation limits; nil when not enforced
	// ready is when the chat exists, on the sim's clock: a Graph install
	// makes it ChatReadyDelay later. Set before c is published.
	ready time.Duration
}

// readyAt reports whether the chat exists at now.
func (c *convRef) readyAt(now time.Duration) bool { return now >= c.ready }

// userJSON holds JSON literals of the Graph user properties.
type userJSON struct {
	id, displayName, upn, userType, givenName, surname, mail string
	jobTitle, department, accountEnabled                     string
}

var (
	departments = []string{"Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Operations", "Legal", "Support"}
	jobTitles   = []string{"Engineer", "Senior Engineer", "Account Executive", "Analyst", "Manager", "Director",
		"Designer", "Specialist", "Coordinator", "Consultant"}
	givenNames = []string{"Adele", "Alex", "Allan", "Amara", "Ben", "Carla", "Chen", "Christie", "Dario", "Debra",
		"Diego", "Elif", "Emily", "Enrico", "Fatima", "Grady", "Hana", "Henrietta", "Isaiah", "Ivan",
		"Jamal", "Johanna", "Joni", "Kenji", "Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor",
		"Nia", "Olga", "Patti", "Pradeep", "Raul", "Sakura", "Sven", "Tomás", "Yara", "Zoë"}
	surnames = []string{"Adams", "Bauer", "Cho", "Costa", "Dubois", "Eriksen", "Fernández", "García", "Gonzales", "Holt",
		"Ito", "Jensen", "Kaur", "Kowalski", "Larsen", "Lindqvist", "Mbeki", "Meyer", "Müller", "Nakamura",
		"Novak", "O'Brien", "Okafor", "Patel", "Petrov", "Quinn", "Rossi", "Sato", "Schmidt", "Silva",
		"Smith", "Tanaka", "Torres", "Vance", "Wagner", "Wilber", "Xu", "Yilmaz", "Zhang", "Zimmer"}
)

// newTenant builds a tenant's population from the seed. The same seed,
// tenant id and fractions always give the same users.
func (s *Sim) newTenant(id string) *tenantState {
	cfg := s.cfg
	t := &tenantState{
		id:        id,
		domain:    "sim" + strconv.FormatUint(hash64(id)&0xffffffff, 16) + ".onmicrosoft.com",
		catalogID: derivedUUID(cfg.Seed, "catalog", id, cfg.TeamsAppID),
		connector: newLimiter(perSecond(cfg.ConnectorRPS)),
		graphGet:  newLimiter(perSecond(cfg.GraphRPS)),
		graphPost: newLimiter(perSecond(cfg.GraphRPS)),
	}
	n := cfg.UsersPerTenant
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), hash64(id)))

	t.users = make([]*userState, n)
	for i := range t.users {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		u := &userState{tenant: t}
		u.u.ID = uuid.UUID(b).String()
		u.u.UserType = "Member"
		u.u.AccountEnabled = true
		u.u.GivenName = givenNames[rng.IntN(len(givenNames))]
		u.u.Surname = surnames[rng.IntN(len(surnames))]
		t.users[i] = u
	}
	slices.SortFunc(t.users, func(a, b *userState) int { return strings.Compare(a.u.ID, b.u.ID) })

	pick := func(count int) []int { return rng.Perm(n)[:count] }
	for _, i := range pick(roundCount(guestFraction, n)) {
		t.users[i].u.UserType = "Guest"
	}
	installed := pick(roundCount(cfg.InstalledFraction, n))
	for _, i := range installed {
		t.users[i].u.Installed = true
	}
	for _, j := range rng.Perm(len(installed))[:roundCount(cfg.BlockedFraction, len(installed))] {
		u := t.users[installed[j]]
		u.u.Blocked = true
		u.u.BlockShape = BlockShapeCode
		if rng.IntN(2) == 1 {
			u.u.BlockShape = BlockShape209
		}
	}
	for _, i := range pick(roundCount(cfg.DisabledFraction, n)) {
		t.users[i].u.Disabled = true
	}

	// The profile's other fields come from a generator of their own, so
	// that the population above stays what it was before they existed.
	prof := rand.New(rand.NewPCG(uint64(cfg.Seed)^0x5bd1e995, hash64(id+"/profile")))
	for _, u := range t.users {
		u.u.Department = departments[prof.IntN(len(departments))]
		u.u.JobTitle = jobTitles[prof.IntN(len(jobTitles))]
	}
	for _, i := range prof.Perm(n)[:roundCount(cfg.AccountDisabledFraction, n)] {
		t.users[i].u.AccountEnabled = false
	}

	t.byKey = make(map[string]*userState, 2*n)
	for i, u := range t.users {
		u.nameUser(i+1, t.domain)
		u.rng = *rand.NewPCG(uint64(cfg.Seed)^0x9e3779b97f4a7c15, hash64(id+"/"+u.u.ID))
		t.byKey[u.u.ID] = u
		t.byKey[strings.ToLower(u.u.UPN)] = u
		if u.u.Installed {
			s.installLocked(u, 0)
		}
	}
	t.seedGroups(cfg, s.cfg.Seed)
	return t
}

// nameUser fills in the names, the UPN and the mail address; the number
// keeps UPNs unique.
func (u *userState) nameUser(n int, domain string) {
	given, sur := u.u.GivenName, u.u.Surname
	local := asciiName(given) + "." + asciiName(sur)
	if u.u.UserType == "Guest" {
		u.u.DisplayName = given + " " + sur + " (Fabrikam)"
		u.u.Mail = local + strconv.Itoa(n) + "@fabrikam.example"
		u.u.UPN = local + strconv.Itoa(n) + "_fabrikam.example#EXT#@" + domain
	} else {
		u.u.DisplayName = given + " " + sur
		u.u.UPN = local + strconv.Itoa(n) + "@" + domain
		u.u.Mail = u.u.UPN
	}
	u.encode()
}

// encode sets the JSON literals of the user's Graph properties from u.u.
func (u *userState) encode() {
	orNull := func(s string) string {
		if s == "" {
			return "null"
		}
		return quote(s)
	}
	u.json = userJSON{
		id: quote(u.u.ID), displayName: quote(u.u.DisplayName), upn: quote(u.u.UPN), userType: quote(u.u.UserType),
		givenName: orNull(u.u.GivenName), surname: orNull(u.u.Surname), mail: orNull(u.u.Mail),
		jobTitle: orNull(u.u.JobTitle), department: orNull(u.u.Department), accountEnabled: strconv.FormatBool(u.u.AccountEnabled),
	}
}

// installLocked installs the app for u: a new installation with a new
// conversation, whose chat exists from ready on (the sim's clock). The
// caller holds u.mu (or owns u exclusively).
func (s *Sim) installLocked(u *userState, ready time.Duration) {
	u.gen++
	u.u.Installed = true
	u.convCreated = false
	t := u.tenant
	// Graph's installation ids are base64 of "<user>##<catalog app>";
	// later installations get a suffix so that they differ.
	inst := u.u.ID + "##" + t.catalogID
	chat := "19:" + u.u.ID + "_" + s.cfg.BotAppID
	if u.gen > 1 {
		inst += "##" + strconv.Itoa(u.gen)
		chat += "." + strconv.Itoa(u.gen)
	}
	sum := sha256.Sum256([]byte(strconv.FormatInt(s.cfg.Seed, 10) + "|" + t.id + "|" + u.u.ID + "|" + strconv.Itoa(u.gen)))
	c := &convRef{
		user:           u,
		gen:            u.gen,
		connectorID:    "a:1" + base64.RawURLEncoding.EncodeToString(sum[:]),
		chatID:         chat + "@unq.gbl.spaces",
		installationID: base64.StdEncoding.EncodeToString([]byte(inst)),
		created:        s.now(),
		ready:          ready,
	}
	if s.cfg.ConversationLimits {
		c.lim = newLimiter(conversationWindows)
	}
	u.conv = c
	s.convs.store(c.connectorID, c)
	s.convs.store(c.chatID, c)
}

// current reports whether c is the user's installation now. Caller holds
// c.user.mu.
func (c *convRef) current() bool { return c.user.u.Installed && c.user.gen == c.gen }

func roundCount(fraction float64, n int) int {
	return min(n, max(0, int(math.Round(fraction*float64(n)))))
}

// derivedUUID is a version-4-shaped UUID derived from the parts.
func derivedUUID(seed int64, parts ...string) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(seed, 10) + "|" + strings.Join(parts, "|")))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return uuid.UUID(sum[:16]).String()
}

// hash64 is FNV-1a.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func asciiName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'á':
			b.WriteByte('a')
		case r == 'é':
			b.WriteByte('e')
		case r == 'ü':
			b.WriteByte('u')
		case r == 'ë':
			b.WriteByte('e')
		}
	}
	return b.String()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
