package api

// OnExportPage sets a function called after each page an export has
// written and flushed.
func OnExportPage(s *Server, f func(page int)) { s.exportPageDone = f }
