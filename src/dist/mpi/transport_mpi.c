/* The transport over MPI point-to-point (nonblocking send and receive on a duplicate of the
 * job's communicator, errors returned instead of fatal) and MPI_Iallreduce as the library's own
 * reducer. Messages go in segments of at most SEGMENT bytes, so that counts fit an int and an
 * added message needs only one segment of scratch. Waiting polls with growing sleeps instead
 * of MPI's busy wait: the reduction thread shares the cores with backward. One thread of the
 * process at a time. */
#include "dist/mpi/comm_mpi.h"
#include "dist/transport.h"

#include "core/error.h"

#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define SEGMENT ((size_t)16 << 20)
#define ALLREDUCE_FLOATS ((int64_t)1 << 28)
#define SPIN_POLLS 64        /* polls with sched_yield before sleeping */
#define SLEEP_MAX_NS 200000L /* the sleep between polls doubles up to this */

typedef struct mpi_transport {
    pdl_transport base;
    MPI_Comm comm;
    float *scratch; /* SEGMENT bytes once an added message arrives */
} mpi_transport;

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void add_floats(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* Waits for the n requests, polling; what failed names what. */
static pdl_status wait_all(MPI_Request *requests, int n, const char *what)
{
    long sleep_ns = 2000;
    for (int polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return pdl_mpi_error(rc, what);
        if (done)
            return PDL_OK;
        if (polls < SPIN_POLLS) {
            sched_yield();
            continue;
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        sleep_ns = sleep_ns * 2 < SLEEP_MAX_NS ? sleep_ns * 2 : SLEEP_MAX_NS;
    }
}

static pdl_status exchange(pdl_transport *base, int self, int to, const void *send,
                           size_t send_bytes, int from, void *recv, size_t recv_bytes, bool add)
{
    mpi_transport *t = (mpi_transport *)base;
    (void)self;
    if (to < 0)
        send_bytes = 0;
    if (from < 0)
        recv_bytes = 0;
    if (add && recv_bytes && !t->scratch && !(t->scratch = malloc(SEGMENT)))
        return pdl_error(PDL_ERR_NOMEM, "MPI transport: out of memory for %zu bytes of scratch",
                         SEGMENT);
    /* At least one round, so that empty messages are exchanged too (they order the ranks). */
    for (size_t done_s = 0, done_r = 0, round = 0;
         round == 0 || done_s < send_bytes || done_r < recv_bytes; round++) {
        size_t ns = min_size(send_bytes - done_s, SEGMENT),
               nr = min_size(recv_bytes - done_r, SEGMENT);
        bool sending = to >= 0 && (round == 0 || done_s < send_bytes);
        bool receiving = from >= 0 && (round == 0 || done_r < recv_bytes);
        MPI_Request requests[2];
        int n = 0, rc = MPI_SUCCESS;
        if (receiving)
            rc = MPI_Irecv(add ? (char *)t->scratch : (char *)recv + done_r, (int)nr, MPI_BYTE,
                           from, 0, t->comm, &requests[n++]);
        if (sending && rc == MPI_SUCCESS)
            rc = MPI_Isend((const char *)send + done_s, (int)ns, MPI_BYTE, to, 0, t->comm,
                           &requests[n++]);
        pdl_status status = rc == MPI_SUCCESS ? wait_all(requests, n, "MPI_Isend/MPI_Irecv")
                                              : pdl_mpi_error(rc, "MPI_Isend/MPI_Irecv");
        if (status != PDL_OK)
            return pdl_error_context(status, "exchange with ranks %d (send) and %d (receive)", to,
                                     from);
        if (add && receiving)
            add_floats((float *)((char *)recv + done_r), t->scratch, nr / sizeof(float));
        done_s += ns;
        done_r += nr;
    }
    return PDL_OK;
}

static pdl_status allreduce(pdl_transport *base, int self, float *buf, int64_t n)
{
    mpi_transport *t = (mpi_transport *)base;
    (void)self;
    for (int64_t at = 0; at < n; at += ALLREDUCE_FLOATS) {
        int count = (int)(n - at < ALLREDUCE_FLOATS ? n - at : ALLREDUCE_FLOATS);
        MPI_Request request;
        int rc =
            MPI_Iallreduce(MPI_IN_PLACE, buf + at, count, MPI_FLOAT, MPI_SUM, t->comm, &request);
        pdl_status status = rc == MPI_SUCCESS ? wait_all(&request, 1, "MPI_Iallreduce")
                                              : pdl_mpi_error(rc, "MPI_Iallreduce");
        if (status != PDL_OK)
            return status;
    }
    return PDL_OK;
}

static void fail(pdl_transport *base, int self, const char *message)
{
    (void)base, (void)self, (void)message;
}

static void transport_free(pdl_transport *base)
{
    mpi_transport *t = (mpi_transport *)base;
    if (!t)
        return;
    MPI_Comm_free(&t->comm);
    free(t->scratch);
    free(t);
}

static const pdl_transport_ops mpi_ops = {
    .exchange = exchange, .allreduce = allreduce, .fail = fail, .free = transport_free};

pdl_status pdl_transport_mpi_create(pdl_comm *comm, pdl_transport **out)
{
    mpi_transport *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return pdl_error(PDL_ERR_NOMEM, "MPI transport: out of memory");
    int rc = MPI_Comm_dup(comm->comm, &t->comm);
    if (rc != MPI_SUCCESS) {
        free(t);
        return pdl_mpi_error(rc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(t->comm, MPI_ERRORS_RETURN);
    t->base = (pdl_transport){.ops = &mpi_ops, .size = comm->size, .kind = "mpi"};
    *out = &t->base;
    return PDL_OK;
}
