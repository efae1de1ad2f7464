/* A small wrapper over LMDB for the dataset code: creating a database directory and writing
 * batches in one transaction each (the map doubles on MDB_MAP_FULL, as Caffe's db_lmdb.cpp
 * does), opening one read-only, walking it in key order and point reads. Every LMDB code is
 * turned into a pdl_status with mdb_strerror and the path. Knows nothing of Datum records. */
#ifndef PDL_DATA_LMDB_DB_H
#define PDL_DATA_LMDB_DB_H

#include "pdl/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pdl_lmdb pdl_lmdb;

typedef struct pdl_lmdb_item {
    const void *key;
    size_t key_size;
    const void *value;
    size_t value_size;
} pdl_lmdb_item;

/* Creates the directory path (it must not exist) holding data.mdb and lock.mdb, for writing,
 * with an initial map of map_size bytes (rounded up by LMDB to whole pages). */
pdl_status pdl_lmdb_create(const char *path, size_t map_size, pdl_lmdb **out);
/* Opens an existing database read-only: path is a directory holding data.mdb (the Caffe and
 * DIGITS layout) or the data file itself. No lock file is used or created (datasets do not
 * change once built), so read-only folders work and several opens in one process are safe.
 * Reads are safe from several threads at once (MDB_NOTLS, one read transaction per call). */
pdl_status pdl_lmdb_open(const char *path, pdl_lmdb **out);
/* Flushes a database opened for writing to disk (fsync) and closes it; returns the flush's
 * status. NULL-safe. */
pdl_status pdl_lmdb_close(pdl_lmdb *db);

/* Writes the n items in one write transaction. append: keys are larger than every key already
 * in the database and ascending (MDB_APPEND: faster, compact); a key out of order is an error.
 * On MDB_MAP_FULL the transaction is dropped, the map size doubled and the batch written again. */
pdl_status pdl_lmdb_put_batch(pdl_lmdb *db, const pdl_lmdb_item *items, size_t n, bool append);

/* The number of records. */
pdl_status pdl_lmdb_count(pdl_lmdb *db, int64_t *count);
/* The current map size in bytes (grows with pdl_lmdb_put_batch). */
size_t pdl_lmdb_map_size(const pdl_lmdb *db);
const char *pdl_lmdb_path(const pdl_lmdb *db);

/* Calls fn for every record in key order, inside one read transaction: key and value point into
 * the database's memory and are valid only during the call. A non-OK status from fn stops the
 * walk and is returned. */
typedef pdl_status (*pdl_lmdb_record_fn)(void *arg, int64_t index, const void *key,
                                         size_t key_size, const void *value, size_t value_size);
pdl_status pdl_lmdb_each(pdl_lmdb *db, pdl_lmdb_record_fn fn, void *arg);

/* Looks key up and calls fn(arg, value, size) inside a read transaction (value valid only
 * during the call). A missing key is PDL_ERR_FORMAT naming the key and the path. */
typedef pdl_status (*pdl_lmdb_value_fn)(void *arg, const void *value, size_t size);
pdl_status pdl_lmdb_get(pdl_lmdb *db, const void *key, size_t key_size, pdl_lmdb_value_fn fn,
                        void *arg);

#endif
