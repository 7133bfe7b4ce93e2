/* api.h - placeholder, being written */
#ifndef VARVE_API_API_H
#define VARVE_API_API_H
#endif
