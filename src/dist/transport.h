/* Moving bytes between the ranks of a group of workers: one blocking exchange (send to one
 * rank while receiving from another) over threads in one process (shared memory) or MPI
 * point-to-point, plus the MPI library's own allreduce. The reducers (reduce.h) build on this;
 * the transport knows nothing of gradients or buckets. Internal to libpdl. */
#ifndef PDL_DIST_TRANSPORT_H
#define PDL_DIST_TRANSPORT_H

#include "pdl/dist.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct pdl_transport pdl_transport;

typedef struct pdl_transport_ops {
    /* Sends send_bytes of send to rank to and receives recv_bytes from rank from into recv,
     * both at once (so that a ring of exchanges cannot deadlock); to or from may be -1 (no
     * send / no receive). add: recv and the message are floats and the message is added
     * (recv[i] += message[i]) instead of copied. Messages between two ranks arrive in the
     * order they were sent. self is the calling rank. Returns an error naming the peer when
     * the transport failed, or when another rank called fail (then within the time it takes
     * this rank to notice, never a hang). send must stay unchanged until the call returns. */
    pdl_status (*exchange)(pdl_transport *t, int self, int to, const void *send, size_t send_bytes,
                           int from, void *recv, size_t recv_bytes, bool add);
    /* Sums buf (n) over all ranks in place with the library's own algorithm; NULL when the
     * transport has none (threads). */
    pdl_status (*allreduce)(pdl_transport *t, int self, float *buf, int64_t n);
    /* Rank self gives up: every exchange waiting on it, now or later, returns an error naming
     * self and message. For MPI a no-op: the job is ended by the caller (pdl_mpi_abort). */
    void (*fail)(pdl_transport *t, int self, const char *message);
    void (*free)(pdl_transport *t);
} pdl_transport_ops;

struct pdl_transport {
    const pdl_transport_ops *ops;
    int size;         /* ranks */
    const char *kind; /* "threads", "mpi": for messages */
};

/* size ranks that are threads of this process; rank r is whatever thread passes self = r.
 * Each rank is used by one thread at a time. Caller frees with t->ops->free. */
pdl_status pdl_transport_threads_create(int size, pdl_transport **out);
/* The ranks of an MPI job (over a duplicate of its communicator, errors returned, not fatal).
 * Without MPI: PDL_ERR_UNSUPPORTED. */
pdl_status pdl_transport_mpi_create(pdl_comm *comm, pdl_transport **out);

#endif
