/* selfmetrics.h - placeholder, being written */
#ifndef VARVE_API_SELFMETRICS_H
#define VARVE_API_SELFMETRICS_H
#endif
