// The SQLite store's schema and its migrations.
//
// A Kiln database is marked with PRAGMA application_id = kApplicationId and records its schema
// version in PRAGMA user_version (both live in the file header, so they are read without touching
// any table). Migrate() runs on every open: it refuses files that are not Kiln databases or that
// were written by a newer Kiln, and applies each missing migration in its own transaction (the
// version bump commits with the DDL, so a crash mid-migration leaves the previous version intact).
// Free functions; the caller owns the connection and must not share it during the call.
#pragma once

#include <cstdint>

#include "kiln/status.h"
#include "store/sqlite/connection.h"

namespace kiln::store::sqlite {

// "KILN" in ASCII.
inline constexpr int32_t kApplicationId = 0x4B494C4E;
// The newest schema this build knows. Bump it with every new entry in the migration table.
inline constexpr int64_t kSchemaVersion = 8;

// Checks that the database behind `connection` is empty or a Kiln database of a known version and
// migrates it to kSchemaVersion. Errors name the file: kInternal for a foreign, corrupt or too-new
// database, kUnavailable for I/O errors and locks.
Status Migrate(Connection& connection);
// Migrate() stopping at schema version `target` (<= kSchemaVersion): tests build old databases.
Status MigrateTo(Connection& connection, int64_t target);

// The schema version of the database (PRAGMA user_version).
Result<int64_t> SchemaVersion(Connection& connection);

}  // namespace kiln::store::sqlite
