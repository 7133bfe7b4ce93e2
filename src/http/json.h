/* json.h - placeholder, being written */
#ifndef VARVE_HTTP_JSON_H
#define VARVE_HTTP_JSON_H
#endif
