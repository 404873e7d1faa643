// Schema migrations of the SQLite store: numbered, forward-only, embedded SQL.
//
// Persisted format: the table `schema_migrations(version INTEGER PRIMARY KEY, applied_ms)`
// holds one row per applied migration. The schema version of a database is the highest
// version in it. Migrations are never edited once released and never undone: a change to
// the schema is a new migration appended to the list in migrations.cpp.
//
// Internal to core/store: only sqlite_store.cpp (and the store's tests) include this.
#pragma once

#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace plexus::store_migrations {

struct Migration {
    int version;       // 1, 2, 3, ... without gaps
    const char* name;  // short description, named in errors
    const char* sql;   // one or more statements, run inside the migration's transaction
};

// Every migration this build knows, in version order.
const std::vector<Migration>& all();

// The highest version this build knows (the version of a fully migrated database).
int latest_version();

// The database's current schema version (0 for a fresh file). Creates the
// schema_migrations table if it is missing.
int current_version(SQLite::Database& db);

// Brings `db` up to latest_version(). Each migration runs in its own IMMEDIATE transaction
// together with its schema_migrations row, so a crash leaves the database at a whole
// version. Refuses (std::runtime_error naming `path`) a database whose version is newer
// than this build knows, and names the failing migration when one fails. Returns the
// resulting schema version.
int migrate(SQLite::Database& db, const std::string& path);

}  // namespace plexus::store_migrations
