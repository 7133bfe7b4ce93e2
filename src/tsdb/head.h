/* head.h - placeholder, being written */
#ifndef VARVE_TSDB_HEAD_H
#define VARVE_TSDB_HEAD_H
#endif
