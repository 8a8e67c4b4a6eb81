/*
** db.c — small questions about the database that several layers ask.
*/
#include "base/base.h"

int vg_has_table(sqlite3 *db, const char *zTable, const char *zCol) {
  return sqlite3_table_column_metadata(db, "main", zTable, zCol, 0, 0, 0, 0, 0) == SQLITE_OK;
}
