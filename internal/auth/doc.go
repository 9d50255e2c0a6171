// Package auth is who may call the dispatcher's API: bearer API keys,
// stored as SHA-256 hashes, each with a name (the actor the audit log
// records) and a role.
//
// A key is a random token minted by Generate (bcast keygen): "bk_" and 32
// random bytes, base64url. It is shown once to whoever mints it; the
// dispatcher only ever holds its hash, in lines such as
//
//	hr-system author sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b
//
// read from API_KEYS_FILE and API_KEYS (ParseKeys). A key has 256 bits of
// entropy, so a fast hash is enough: nobody can guess a preimage, and a
// slow one (bcrypt) would only cost every request CPU. Authenticate
// compares the presented key's hash with every configured hash in
// constant time and without stopping at a match, so neither the time nor
// the order of the entries tells which key (or prefix) matched.
//
// Roles are ordered: viewer (reads) < author (creates broadcasts, previews
// them, cancels its own) < approver (an author that also approves or
// rejects the broadcasts the approval policy holds back, never its own)
// < admin (everything; it approves too, and not its own either). The API keeps its route ->
// role policy in one table (internal/api/policy.go).
package auth
