#include "store/sqlite/schema.h"

#include <string>

namespace kiln::store::sqlite {
namespace {

struct Migration {
  int64_t version;
  const char* sql;
};

// Append only: a released migration is never edited, a change is a new migration. A migration
// that changes a value index of the idx_* tables must first build the deferred ones
// (deferred_indexes.h): during a bulk load they do not exist.
const Migration kMigrations[] = {
    {1, R"sql(
-- Every version of every resource, in commit order. seq is the store-wide sequence number that
-- history is ordered and paged by; it is the rowid, so the JSON lives in the table's own b-tree
-- and the indexes stay small. json holds the bytes served to clients (empty for a deletion).
-- method: 0 create, 1 update, 2 delete.
CREATE TABLE resource_version (
  seq          INTEGER PRIMARY KEY,
  tenant       TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  deleted      INTEGER NOT NULL,
  method       INTEGER NOT NULL,
  json         BLOB    NOT NULL
);
-- read latest (version DESC LIMIT 1), vread, instance history (version order = seq order within
-- one resource), and the "next version" lookup behind _at.
CREATE UNIQUE INDEX resource_version_by_key ON resource_version (tenant, type, id, version);
-- type history, newest first, without touching other types; last_updated rides along so that
-- _since/_at filters and totals are answered from the index without visiting the rows.
CREATE INDEX resource_version_by_type ON resource_version (tenant, type, seq, last_updated);
-- system history, newest first, without touching other tenants.
CREATE INDEX resource_version_by_tenant ON resource_version (tenant, seq, last_updated);

-- The current version of each resource: one row per (tenant, type, id). rid is the stable key that
-- search index rows hang off.
CREATE TABLE resource (
  rid          INTEGER PRIMARY KEY,
  tenant       TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  seq          INTEGER NOT NULL,
  deleted      INTEGER NOT NULL,
  last_updated INTEGER NOT NULL,
  UNIQUE (tenant, type, id)
);

-- Small facts about the whole store, kept in the same transactions as the data:
--   max_last_updated      the largest last_updated ever appended (NextTimestamp starts above it)
--   history_time_ordered  1 while last_updated has increased with seq for every appended version,
--                         which lets history turn _since and _at bounds into seq ranges
CREATE TABLE store_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_meta (key, value) VALUES ('max_last_updated', 0), ('history_time_ordered', 1);
)sql"},
    {2, R"sql(
-- Search index rows of the current version of each resource, one table per kind of value
-- (search/index.h), keyed by resource.rid. grp and component carry composite groups (0 otherwise).
-- n numbers the resource's entries. The tables are clustered by (rid, n), which serves replacing a
-- resource's rows and the per-resource minimum/maximum that _sort uses; each has one more index
-- led by (param, value...) for matching. (Two b-trees per row, not three: this is written on the
-- single writer thread for every entry of every write.)
-- Full text (_text, _content) is not stored here: it is in idx_text (migration 4).
CREATE TABLE idx_string (
  rid        INTEGER NOT NULL,
  n          INTEGER NOT NULL,
  param      TEXT    NOT NULL,
  grp        INTEGER NOT NULL,
  component  INTEGER NOT NULL,
  normalized TEXT    NOT NULL,
  exact      TEXT    NOT NULL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_string_by_value ON idx_string (param, normalized, rid);

CREATE TABLE idx_token (
  rid         INTEGER NOT NULL,
  n           INTEGER NOT NULL,
  param       TEXT    NOT NULL,
  grp         INTEGER NOT NULL,
  component   INTEGER NOT NULL,
  system      TEXT    NOT NULL,
  code        TEXT    NOT NULL,
  text        TEXT    NOT NULL,
  type_system TEXT    NOT NULL,
  type_code   TEXT    NOT NULL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_token_by_value ON idx_token (param, code, system, rid);

-- [low, high) in microseconds since the epoch.
CREATE TABLE idx_date (
  rid       INTEGER NOT NULL,
  n         INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  low       INTEGER NOT NULL,
  high      INTEGER NOT NULL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_date_by_value ON idx_date (param, low, high, rid);

-- value is NULL for a Range; low/high may be -/+infinity.
CREATE TABLE idx_number (
  rid       INTEGER NOT NULL,
  n         INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  value     REAL,
  low       REAL    NOT NULL,
  high      REAL    NOT NULL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_number_by_value ON idx_number (param, value, rid);

-- canonical_*: value, low and high in canonical_code's unit (UCUM units with a known factor);
-- canonical_code is '' and the canonical columns NULL otherwise.
CREATE TABLE idx_quantity (
  rid             INTEGER NOT NULL,
  n               INTEGER NOT NULL,
  param           TEXT    NOT NULL,
  grp             INTEGER NOT NULL,
  component       INTEGER NOT NULL,
  value           REAL,
  low             REAL    NOT NULL,
  high            REAL    NOT NULL,
  system          TEXT    NOT NULL,
  code            TEXT    NOT NULL,
  unit            TEXT    NOT NULL,
  canonical_code  TEXT    NOT NULL,
  canonical_value REAL,
  canonical_low   REAL,
  canonical_high  REAL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_quantity_by_value ON idx_quantity (param, value, rid);

-- kind: 0 local, 1 absolute, 2 canonical, 3 contained (search::ReferenceKind).
CREATE TABLE idx_reference (
  rid       INTEGER NOT NULL,
  n         INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  kind      INTEGER NOT NULL,
  type      TEXT    NOT NULL,
  id        TEXT    NOT NULL,
  version   TEXT    NOT NULL,
  url       TEXT    NOT NULL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_reference_by_id ON idx_reference (param, id, type, rid);
CREATE INDEX idx_reference_by_url ON idx_reference (param, url, rid);

CREATE TABLE idx_uri (
  rid       INTEGER NOT NULL,
  n         INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  uri       TEXT    NOT NULL,
  PRIMARY KEY (rid, n)
) WITHOUT ROWID;
CREATE INDEX idx_uri_by_value ON idx_uri (param, uri, rid);

-- A type's current resources in rid order (searches without a selective criterion, paging).
CREATE INDEX resource_by_type ON resource (tenant, type, deleted);
)sql"},
    {3, R"sql(
-- The index tables become rowid tables keyed by key = rid << 20 | n. A resource's rows still sit
-- together in key order (replacing them, and the per-resource minimum/maximum that _sort uses, are
-- range scans of the table), but adding the rows of a new resource is now an append at the end of
-- an integer-keyed b-tree instead of a (rid, n) record-compared seek into a WITHOUT ROWID one:
-- the cheaper half of the two b-tree inserts each index entry costs the single writer thread.
-- rid stays a column so that the (param, value..., rid) indexes answer matches on their own.
-- n < 2^20: a resource has at most 1,048,576 index entries.
CREATE TABLE idx_string_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  normalized TEXT NOT NULL,
  exact TEXT NOT NULL
);
INSERT INTO idx_string_3 (key, rid, param, grp, component, normalized, exact)
  SELECT (rid << 20) | n, rid, param, grp, component, normalized, exact FROM idx_string ORDER BY rid, n;
DROP TABLE idx_string;
ALTER TABLE idx_string_3 RENAME TO idx_string;
CREATE INDEX idx_string_by_value ON idx_string (param, normalized, rid);

CREATE TABLE idx_token_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  system TEXT NOT NULL,
  code TEXT NOT NULL,
  text TEXT NOT NULL,
  type_system TEXT NOT NULL,
  type_code TEXT NOT NULL
);
INSERT INTO idx_token_3 (key, rid, param, grp, component, system, code, text, type_system, type_code)
  SELECT (rid << 20) | n, rid, param, grp, component, system, code, text, type_system, type_code FROM idx_token ORDER BY rid, n;
DROP TABLE idx_token;
ALTER TABLE idx_token_3 RENAME TO idx_token;
CREATE INDEX idx_token_by_value ON idx_token (param, code, system, rid);

CREATE TABLE idx_date_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  low INTEGER NOT NULL,
  high INTEGER NOT NULL
);
INSERT INTO idx_date_3 (key, rid, param, grp, component, low, high)
  SELECT (rid << 20) | n, rid, param, grp, component, low, high FROM idx_date ORDER BY rid, n;
DROP TABLE idx_date;
ALTER TABLE idx_date_3 RENAME TO idx_date;
CREATE INDEX idx_date_by_value ON idx_date (param, low, high, rid);

CREATE TABLE idx_number_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  value REAL,
  low REAL NOT NULL,
  high REAL NOT NULL
);
INSERT INTO idx_number_3 (key, rid, param, grp, component, value, low, high)
  SELECT (rid << 20) | n, rid, param, grp, component, value, low, high FROM idx_number ORDER BY rid, n;
DROP TABLE idx_number;
ALTER TABLE idx_number_3 RENAME TO idx_number;
CREATE INDEX idx_number_by_value ON idx_number (param, value, rid);

CREATE TABLE idx_quantity_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  value REAL,
  low REAL NOT NULL,
  high REAL NOT NULL,
  system TEXT NOT NULL,
  code TEXT NOT NULL,
  unit TEXT NOT NULL,
  canonical_code TEXT NOT NULL,
  canonical_value REAL,
  canonical_low REAL,
  canonical_high REAL
);
INSERT INTO idx_quantity_3 (key, rid, param, grp, component, value, low, high, system, code, unit, canonical_code, canonical_value, canonical_low, canonical_high)
  SELECT (rid << 20) | n, rid, param, grp, component, value, low, high, system, code, unit, canonical_code, canonical_value, canonical_low, canonical_high FROM idx_quantity ORDER BY rid, n;
DROP TABLE idx_quantity;
ALTER TABLE idx_quantity_3 RENAME TO idx_quantity;
CREATE INDEX idx_quantity_by_value ON idx_quantity (param, value, rid);

CREATE TABLE idx_reference_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version TEXT NOT NULL,
  url TEXT NOT NULL
);
INSERT INTO idx_reference_3 (key, rid, param, grp, component, kind, type, id, version, url)
  SELECT (rid << 20) | n, rid, param, grp, component, kind, type, id, version, url FROM idx_reference ORDER BY rid, n;
DROP TABLE idx_reference;
ALTER TABLE idx_reference_3 RENAME TO idx_reference;
CREATE INDEX idx_reference_by_id ON idx_reference (param, id, type, rid);
CREATE INDEX idx_reference_by_url ON idx_reference (param, url, rid);

CREATE TABLE idx_uri_3 (
  key       INTEGER PRIMARY KEY,
  rid       INTEGER NOT NULL,
  param     TEXT    NOT NULL,
  grp       INTEGER NOT NULL,
  component INTEGER NOT NULL,
  uri TEXT NOT NULL
);
INSERT INTO idx_uri_3 (key, rid, param, grp, component, uri)
  SELECT (rid << 20) | n, rid, param, grp, component, uri FROM idx_uri ORDER BY rid, n;
DROP TABLE idx_uri;
ALTER TABLE idx_uri_3 RENAME TO idx_uri;
CREATE INDEX idx_uri_by_value ON idx_uri (param, uri, rid);
)sql"},
    {4, R"sql(
-- Full text of each current resource for _text (its narrative, tags stripped) and _content (every
-- string value, the narrative included), rowid = resource.rid. unicode61 folds case and, with
-- remove_diacritics 2, accents, as string search does. The text is stored once more here: FTS5
-- without stored content could not delete a resource's row without being handed the old text.
-- detail=column and columnsize=0: Kiln's queries are words and prefixes within a column, never
-- phrases or NEAR, and do not rank, so positions and per-row sizes would only cost writes.
CREATE VIRTUAL TABLE idx_text USING fts5(narrative, content,
                                         tokenize = 'unicode61 remove_diacritics 2',
                                         detail = column, columnsize = 0);
)sql"},
    {5, R"sql(
-- Local references ("Patient/123", most of them) are matched by (param, id, type) in
-- idx_reference_by_id; their url column only repeats "Type/id". Keeping them out of the url index
-- saves one b-tree insert, in a leaf page of its own, per reference written. Queries by URL say
-- `kind <> 0` (search_sql.cc) so that SQLite uses this partial index.
DROP INDEX idx_reference_by_url;
CREATE INDEX idx_reference_by_url ON idx_reference (param, url, rid) WHERE kind <> 0;
)sql"},
    {6, R"sql(
-- _lastUpdated is answered from resource.last_updated (no index rows since extractor version 6):
-- this index serves it as a range, and _sort=_lastUpdated. deleted is in it because every search
-- says deleted = 0, so SQLite prefers it to resource_by_type when a time range is given. New
-- entries land at the right edge of each type's range (time only grows): one insert where the
-- index rows cost two.
CREATE INDEX resource_by_updated ON resource (tenant, type, deleted, last_updated);
)sql"},
    {7, R"sql(
-- The value indexes of the search index tables that a bulk load (kiln import) dropped, to build
-- them once at its end (deferred_indexes.h). Empty except during a bulk load, or after one that
-- was interrupted: the next open builds what is listed.
CREATE TABLE deferred_index (
  name TEXT PRIMARY KEY,
  sql  TEXT NOT NULL
) WITHOUT ROWID;
)sql"},
    {8, R"sql(
-- Searches by a local reference say `kind = 0` (search_sql.cc, include_sql.cc). With kind outside
-- idx_reference_by_id, SQLite read the table row of every index entry to check it: on the 1M
-- population the 381 rows of a patient's `patient` references took 0.26-0.46 ms that way against
-- 0.05 ms from the index alone. kind goes before rid: queries give it by equality, so one
-- target's rows stay in rid order. An index that a bulk load had deferred is built here and no
-- longer recorded as deferred (the next bulk load defers it again).
DROP INDEX IF EXISTS idx_reference_by_id;
CREATE INDEX idx_reference_by_id ON idx_reference (param, id, type, kind, rid);
DELETE FROM deferred_index WHERE name = 'idx_reference_by_id';
)sql"},
};

}  // namespace

Result<int64_t> SchemaVersion(Connection& connection) {
  return connection.QueryInt("PRAGMA user_version");
}

Status Migrate(Connection& connection) { return MigrateTo(connection, kSchemaVersion); }

Status MigrateTo(Connection& connection, int64_t target) {
  const std::string& path = connection.path();
  // The first read of the file: a file that is not SQLite fails here ("file is not a database").
  Result<int64_t> application_id = connection.QueryInt("PRAGMA application_id");
  if (!application_id.ok()) {
    return Status::Internal(
        path + " is not a Kiln database or is damaged: " + application_id.status().message());
  }
  Result<int64_t> version = SchemaVersion(connection);
  if (!version.ok()) return version.take_status();

  if (*application_id == 0 && *version == 0) {
    // Either brand new or some other application's SQLite file: only an empty one is ours to take.
    Result<int64_t> objects = connection.QueryInt("SELECT count(*) FROM sqlite_schema");
    if (!objects.ok()) {
      return Status::Internal(
          path + " is not a Kiln database or is damaged: " + objects.status().message());
    }
    if (*objects != 0) {
      return Status::Internal(path +
                              " is not a Kiln database: it is an SQLite database of another "
                              "application (it has tables but no Kiln application id)");
    }
  } else if (*application_id != kApplicationId) {
    return Status::Internal(path + " is not a Kiln database (SQLite application id " +
                            std::to_string(*application_id) + ")");
  }
  if (*version > kSchemaVersion) {
    return Status::Internal(path + " has schema version " + std::to_string(*version) +
                            ", newer than the newest this Kiln knows (" +
                            std::to_string(kSchemaVersion) +
                            "): it was written by a newer Kiln; run that version or restore a "
                            "backup");
  }

  for (const Migration& migration : kMigrations) {
    if (migration.version <= *version || migration.version > target) continue;
    Status status = connection.Exec("BEGIN IMMEDIATE");
    if (status.ok()) status = connection.Exec(migration.sql);
    if (status.ok()) {
      // PRAGMA takes no bound parameters; both values are integers this file controls.
      std::string stamp = "PRAGMA application_id = " + std::to_string(kApplicationId) +
                          "; PRAGMA user_version = " + std::to_string(migration.version);
      status = connection.Exec(stamp.c_str());
    }
    if (status.ok()) status = connection.Exec("COMMIT");
    if (!status.ok()) {
      if (sqlite3_get_autocommit(connection.db()) == 0) (void)connection.Exec("ROLLBACK");
      return Status(status.error(), "exception",
                    "migrating " + path + " to schema version " +
                        std::to_string(migration.version) + " failed: " + status.message());
    }
  }
  return Status::Ok();
}

}  // namespace kiln::store::sqlite
