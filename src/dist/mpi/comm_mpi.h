/* What the MPI files share: the job behind pdl_comm and MPI error codes as pdl errors.
 * Included only by src/dist/mpi/ (compiled only with MPI). */
#ifndef PDL_DIST_MPI_COMM_MPI_H
#define PDL_DIST_MPI_COMM_MPI_H

#include "pdl/dist.h"

#include <mpi.h>

struct pdl_comm {
    MPI_Comm comm; /* MPI_COMM_WORLD */
    int rank, size, local_size;
};

/* PDL_ERR_IO "<what> failed: <MPI's message> (MPI error rc)". */
pdl_status pdl_mpi_error(int rc, const char *what);

#endif
