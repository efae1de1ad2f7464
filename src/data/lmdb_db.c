/* The LMDB wrapper of lmdb_db.h: environments, batched writes with map growth, read-only
 * walks and point reads. Owns LMDB calls and their error codes; records are opaque bytes. */
#include "data/lmdb_db.h"

#include "core/error.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Keys in messages: at most this many bytes. */
#define KEY_SHOWN 120
/* Map growth stops here (a runaway record size would otherwise double forever). */
#define MAP_SIZE_LIMIT ((size_t)1 << 44)

struct pdl_lmdb {
    MDB_env *env;
    MDB_dbi dbi;
    bool writable;
    char *path;
};

/* PDL_ERR_IO (or FORMAT for a corrupt file) with "<what> '<path>': <mdb_strerror>". */
static pdl_status lmdb_error(int rc, const char *what, const char *path)
{
    pdl_status code = rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
                              rc == MDB_VERSION_MISMATCH
                          ? PDL_ERR_FORMAT
                      : rc == ENOMEM ? PDL_ERR_NOMEM
                                     : PDL_ERR_IO;
    return pdl_error(code, "%s LMDB database '%s': %s", what, path, mdb_strerror(rc));
}

static pdl_status db_alloc(const char *path, bool writable, pdl_lmdb **out)
{
    pdl_lmdb *db = calloc(1, sizeof *db);
    char *copy = strdup(path);
    if (!db || !copy) {
        free(db);
        free(copy);
        return pdl_error(PDL_ERR_NOMEM, "LMDB database '%s': out of memory", path);
    }
    db->path = copy;
    db->writable = writable;
    int rc = mdb_env_create(&db->env);
    if (rc != 0) {
        free(copy);
        free(db);
        return lmdb_error(rc, "cannot create", path);
    }
    *out = db;
    return PDL_OK;
}

/* Opens the unnamed main database of the environment. */
static pdl_status open_dbi(pdl_lmdb *db)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(db->env, NULL, db->writable ? 0 : MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_error(rc, "cannot begin a transaction in", db->path);
    rc = mdb_dbi_open(txn, NULL, 0, &db->dbi);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return lmdb_error(rc, "cannot open the main table of", db->path);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? PDL_OK : lmdb_error(rc, "cannot commit to", db->path);
}

pdl_status pdl_lmdb_create(const char *path, size_t map_size, pdl_lmdb **out)
{
    *out = NULL;
    if (mkdir(path, 0777) != 0)
        return pdl_error_errno("cannot create the database folder", path);
    pdl_lmdb *db = NULL;
    pdl_status status = db_alloc(path, true, &db);
    if (status != PDL_OK)
        return status;
    int rc = mdb_env_set_mapsize(db->env, map_size);
    if (rc == 0)
        rc = mdb_env_open(db->env, path, MDB_NOSYNC, 0664);
    if (rc != 0) {
        status = lmdb_error(rc, "cannot create", path);
        goto fail;
    }
    status = open_dbi(db);
    if (status != PDL_OK)
        goto fail;
    *out = db;
    return PDL_OK;
fail:
    pdl_lmdb_close(db);
    return status;
}

/* A file shorter than the pages the meta page claims would fault (SIGBUS) when read. */
static pdl_status check_file_size(pdl_lmdb *db, const char *data_path)
{
    MDB_envinfo info;
    MDB_stat db_stat;
    struct stat st;
    int rc = mdb_env_info(db->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(db->env, &db_stat);
    if (rc != 0)
        return lmdb_error(rc, "cannot read the header of", db->path);
    if (stat(data_path, &st) != 0)
        return pdl_error_errno("cannot read", data_path);
    uint64_t needed = ((uint64_t)info.me_last_pgno + 1) * db_stat.ms_psize;
    if ((uint64_t)st.st_size < needed)
        return pdl_error(PDL_ERR_FORMAT,
                         "LMDB database '%s' is truncated: '%s' has %lld bytes, its header "
                         "claims %llu",
                         db->path, data_path, (long long)st.st_size, (unsigned long long)needed);
    return PDL_OK;
}

pdl_status pdl_lmdb_open(const char *path, pdl_lmdb **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return pdl_error_errno("cannot open the LMDB database", path);
    bool subdir = S_ISDIR(st.st_mode);
    size_t len = strlen(path);
    char *data_path = malloc(len + 16);
    if (!data_path)
        return pdl_error(PDL_ERR_NOMEM, "LMDB database '%s': out of memory", path);
    snprintf(data_path, len + 16, subdir ? "%s/data.mdb" : "%s", path);
    pdl_lmdb *db = NULL;
    pdl_status status = PDL_OK;
    if (subdir && stat(data_path, &st) != 0) {
        status = pdl_error(PDL_ERR_FORMAT, "'%s' is not an LMDB database (no data.mdb in it)",
                           path);
        goto fail;
    }
    status = db_alloc(path, false, &db);
    if (status != PDL_OK)
        goto fail;
    unsigned flags = MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK | (subdir ? 0 : MDB_NOSUBDIR);
    int rc = mdb_env_open(db->env, path, flags, 0664);
    if (rc != 0) {
        status = lmdb_error(rc, "cannot open", path);
        goto fail;
    }
    status = check_file_size(db, data_path);
    if (status == PDL_OK)
        status = open_dbi(db);
    if (status != PDL_OK)
        goto fail;
    free(data_path);
    *out = db;
    return PDL_OK;
fail:
    free(data_path);
    pdl_lmdb_close(db);
    return status;
}

pdl_status pdl_lmdb_close(pdl_lmdb *db)
{
    if (!db)
        return PDL_OK;
    pdl_status status = PDL_OK;
    if (db->writable) {
        int rc = mdb_env_sync(db->env, 1);
        if (rc != 0)
            status = lmdb_error(rc, "cannot flush", db->path);
    }
    mdb_env_close(db->env);
    free(db->path);
    free(db);
    return status;
}

/* Doubles the map after MDB_MAP_FULL. */
static pdl_status grow_map(pdl_lmdb *db)
{
    MDB_envinfo info;
    int rc = mdb_env_info(db->env, &info);
    if (rc != 0)
        return lmdb_error(rc, "cannot read the map size of", db->path);
    if (info.me_mapsize >= MAP_SIZE_LIMIT)
        return pdl_error(PDL_ERR_IO, "LMDB database '%s': the map is full at %zu bytes", db->path,
                         info.me_mapsize);
    rc = mdb_env_set_mapsize(db->env, info.me_mapsize * 2);
    return rc == 0 ? PDL_OK : lmdb_error(rc, "cannot grow the map of", db->path);
}

/* One attempt at writing the batch; returns the LMDB code, *failed the item that failed. */
static int put_once(pdl_lmdb *db, const pdl_lmdb_item *items, size_t n, bool append,
                    size_t *failed)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        MDB_val key = {.mv_size = items[i].key_size, .mv_data = (void *)items[i].key};
        MDB_val value = {.mv_size = items[i].value_size, .mv_data = (void *)items[i].value};
        rc = mdb_put(txn, db->dbi, &key, &value, append ? MDB_APPEND : 0);
        if (rc != 0) {
            *failed = i;
            mdb_txn_abort(txn);
            return rc;
        }
    }
    *failed = n;
    return mdb_txn_commit(txn);
}

pdl_status pdl_lmdb_put_batch(pdl_lmdb *db, const pdl_lmdb_item *items, size_t n, bool append)
{
    PDL_ASSERT(db->writable);
    for (;;) {
        size_t failed = n;
        int rc = put_once(db, items, n, append, &failed);
        if (rc == 0)
            return PDL_OK;
        if (rc == MDB_MAP_FULL) {
            pdl_status status = grow_map(db);
            if (status != PDL_OK)
                return status;
            continue;
        }
        if (rc == MDB_MAP_RESIZED) {
            rc = mdb_env_set_mapsize(db->env, 0);
            if (rc == 0)
                continue;
        }
        if (failed < n) {
            int shown = items[failed].key_size < KEY_SHOWN ? (int)items[failed].key_size
                                                           : KEY_SHOWN;
            if (rc == MDB_KEYEXIST)
                return pdl_error(PDL_ERR_INVALID,
                                 "LMDB database '%s': key '%.*s' exists or is not after the "
                                 "last key",
                                 db->path, shown, (const char *)items[failed].key);
            return pdl_error(rc == ENOMEM ? PDL_ERR_NOMEM : PDL_ERR_IO,
                             "cannot write key '%.*s' to LMDB database '%s': %s", shown,
                             (const char *)items[failed].key, db->path, mdb_strerror(rc));
        }
        return lmdb_error(rc, "cannot write to", db->path);
    }
}

pdl_status pdl_lmdb_count(pdl_lmdb *db, int64_t *count)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_error(rc, "cannot begin a transaction in", db->path);
    MDB_stat db_stat;
    rc = mdb_stat(txn, db->dbi, &db_stat);
    mdb_txn_abort(txn);
    if (rc != 0)
        return lmdb_error(rc, "cannot count the records of", db->path);
    *count = (int64_t)db_stat.ms_entries;
    return PDL_OK;
}

size_t pdl_lmdb_map_size(const pdl_lmdb *db)
{
    MDB_envinfo info;
    return mdb_env_info(db->env, &info) == 0 ? info.me_mapsize : 0;
}

const char *pdl_lmdb_path(const pdl_lmdb *db)
{
    return db->path;
}

pdl_status pdl_lmdb_each(pdl_lmdb *db, pdl_lmdb_record_fn fn, void *arg)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_error(rc, "cannot begin a transaction in", db->path);
    pdl_status status = PDL_OK;
    rc = mdb_cursor_open(txn, db->dbi, &cursor);
    if (rc != 0) {
        status = lmdb_error(rc, "cannot walk", db->path);
        goto done;
    }
    MDB_val key, value;
    int64_t index = 0;
    for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        status = fn(arg, index++, key.mv_data, key.mv_size, value.mv_data, value.mv_size);
        if (status != PDL_OK)
            goto done;
    }
    if (rc != MDB_NOTFOUND)
        status = pdl_error(PDL_ERR_FORMAT, "LMDB database '%s': record %lld: %s", db->path,
                           (long long)index, mdb_strerror(rc));
done:
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return status;
}

pdl_status pdl_lmdb_get(pdl_lmdb *db, const void *key, size_t key_size, pdl_lmdb_value_fn fn,
                        void *arg)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_error(rc, "cannot begin a transaction in", db->path);
    MDB_val k = {.mv_size = key_size, .mv_data = (void *)key}, value;
    rc = mdb_get(txn, db->dbi, &k, &value);
    pdl_status status = PDL_OK;
    int shown = key_size < KEY_SHOWN ? (int)key_size : KEY_SHOWN;
    if (rc == MDB_NOTFOUND)
        status = pdl_error(PDL_ERR_FORMAT, "LMDB database '%s' has no key '%.*s'", db->path,
                           shown, (const char *)key);
    else if (rc != 0)
        status = pdl_error(PDL_ERR_FORMAT, "LMDB database '%s': key '%.*s': %s", db->path, shown,
                           (const char *)key, mdb_strerror(rc));
    else
        status = fn(arg, value.mv_data, value.mv_size);
    mdb_txn_abort(txn);
    return status;
}
