/* remote_write.c - placeholder, being written */
#include "ingest/remote_write.h"
