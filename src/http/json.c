/* json.c - placeholder, being written */
#include "http/json.h"
