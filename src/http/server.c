/* server.c - placeholder, being written */
#include "http/server.h"
