/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small filesystem helpers shared by the daemon and the storage engine.
 * Boot and control paths only (they make syscalls).
 */
#ifndef SLUICE_FS_H
#define SLUICE_FS_H

#include <sys/types.h>

/*
 * mkdir -p: create path and any missing parents with `mode`. Returns 0
 * (also when it exists), -ENOTDIR when something on the way is not a
 * directory, -ENAMETOOLONG, or -errno.
 */
int sl_mkdirs(const char *path, mode_t mode);

#endif /* SLUICE_FS_H */
