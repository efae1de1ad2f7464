/* pdl/dist.h's MPI job in a build without MPI: every request for it says so clearly. Workers
 * in one process (the threads transport) need none of this. Compiled instead of src/dist/mpi/. */
#include "dist/transport.h"

#include "core/error.h"

#include <unistd.h>

#define NO_MPI "this pdl was built without MPI (install Open MPI and configure with -DPDL_MPI=ON)"

bool pdl_mpi_available(void)
{
    return false;
}

pdl_status pdl_mpi_init(pdl_comm **out)
{
    *out = NULL;
    return pdl_error(PDL_ERR_UNSUPPORTED, "%s", NO_MPI);
}

int pdl_comm_rank(const pdl_comm *comm)
{
    (void)comm;
    return 0;
}

int pdl_comm_size(const pdl_comm *comm)
{
    (void)comm;
    return 1;
}

int pdl_comm_local_size(const pdl_comm *comm)
{
    (void)comm;
    return 1;
}

void pdl_mpi_finalize(pdl_comm *comm)
{
    (void)comm;
}

void pdl_mpi_abort(pdl_comm *comm, int code)
{
    (void)comm;
    _exit(code);
}

pdl_status pdl_transport_mpi_create(pdl_comm *comm, pdl_transport **out)
{
    (void)comm;
    *out = NULL;
    return pdl_error(PDL_ERR_UNSUPPORTED, "%s", NO_MPI);
}
