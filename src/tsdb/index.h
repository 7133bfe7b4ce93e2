/* index.h - placeholder, being written */
#ifndef VARVE_TSDB_INDEX_H
#define VARVE_TSDB_INDEX_H
#endif
