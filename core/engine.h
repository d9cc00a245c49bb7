// The process-wide oneDNN CPU engine. Created on first use; thread-safe.
#pragma once

#include "dnnl.hpp"

namespace seqserve {

const dnnl::engine& CpuEngine();

}  // namespace seqserve
