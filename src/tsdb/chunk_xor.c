/* chunk_xor.c - placeholder, being written */
#include "tsdb/chunk_xor.h"
