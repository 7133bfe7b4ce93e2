/* server.h - placeholder, being written */
#ifndef VARVE_HTTP_SERVER_H
#define VARVE_HTTP_SERVER_H
#endif
