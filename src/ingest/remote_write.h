/* remote_write.h - placeholder, being written */
#ifndef VARVE_INGEST_REMOTE_WRITE_H
#define VARVE_INGEST_REMOTE_WRITE_H
#endif
