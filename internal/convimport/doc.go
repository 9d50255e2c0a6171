// Package convimport reads files of known conversations: which 1:1
// conversation the bot already has with which user, so that a first
// broadcast finds them cached (conv:<tenant>:<user>) instead of installing
// the app and looking each chat up.
//
// Two shapes of CSV are read, their header names compared without regard
// to case:
//
//   - the simple one: userId,conversationId,serviceUrl (an optional
//     tenantId; other columns ignored), userId being the Entra object id;
//   - Company Communicator's UserData table as Azure Storage Explorer
//     exports it: PartitionKey,RowKey,Timestamp, then each property
//     followed by its "<name>@type" column (AadId, UserId, ConversationId,
//     ServiceUrl, TenantId, Name, Email, Upn, UserType). A header with an
//     AadId column is read this way: AadId (or RowKey) is the user, and
//     UserId, the Bot Framework's "29:..." id, is ignored. Rows of another
//     partition (AuthorData: the author bot's conversations; UsersSyncData)
//     and rows without a ConversationId (users Company Communicator synced
//     from the directory but never reached) are skipped and counted.
//
// Every other problem is an error naming the line and the column: a user
// id that is not a GUID, a conversation id that is empty, too long, has
// control characters or is not a personal one ("a:..." or
// "19:...@unq.gbl.spaces"), a service URL the allow-list refuses, a
// tenant other than the import's, the same user twice with different
// conversations. Read streams: memory is one record (at most
// MaxRecordBytes) and the duplicate check, about 50 bytes per distinct
// user (TestReadStreamsLargeFiles), never the rows.
package convimport
