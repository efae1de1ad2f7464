/* The MPI job (pdl/dist.h's pdl_mpi_* and pdl_comm_*) in a build with MPI: MPI_Init_thread,
 * rank and size, the ranks on this machine, MPI_Abort. The transport over it is
 * transport_mpi.c; a build without MPI compiles src/dist/no_mpi/ instead. */
#include "dist/mpi/comm_mpi.h"

#include "core/error.h"

#include <stdlib.h>
#include <unistd.h>

bool pdl_mpi_available(void)
{
    return true;
}

pdl_status pdl_mpi_init(pdl_comm **out)
{
    int initialized = 0, provided = 0;
    *out = NULL;
    MPI_Initialized(&initialized);
    if (initialized)
        return pdl_error(PDL_ERR_INVALID, "MPI is initialized already (pdl_mpi_init once per "
                                          "process)");
    pdl_comm *comm = calloc(1, sizeof *comm);
    if (!comm)
        return pdl_error(PDL_ERR_NOMEM, "MPI: out of memory");
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) {
        free(comm);
        return pdl_mpi_error(rc, "MPI_Init_thread");
    }
    comm->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &comm->size);
    MPI_Comm local;
    comm->local_size = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &comm->local_size);
        MPI_Comm_free(&local);
    }
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        free(comm);
        return pdl_error(PDL_ERR_UNSUPPORTED,
                         "MPI: the library offers thread level %d, pdl "
                         "needs MPI_THREAD_SERIALIZED or more (a reduction thread per rank)",
                         provided);
    }
    *out = comm;
    return PDL_OK;
}

pdl_status pdl_mpi_error(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = '\0';
    return pdl_error(PDL_ERR_IO, "%s failed: %s (MPI error %d)", what, text, rc);
}

int pdl_comm_rank(const pdl_comm *comm)
{
    return comm ? comm->rank : 0;
}
int pdl_comm_size(const pdl_comm *comm)
{
    return comm ? comm->size : 1;
}
int pdl_comm_local_size(const pdl_comm *comm)
{
    return comm ? comm->local_size : 1;
}

void pdl_mpi_finalize(pdl_comm *comm)
{
    if (!comm)
        return;
    MPI_Finalize();
    free(comm);
}

void pdl_mpi_abort(pdl_comm *comm, int code)
{
    (void)comm;
    MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code);
}
