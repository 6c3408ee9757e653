/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Filesystem helpers (see fs.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <sluice/error.h>
#include <sluice/fs.h>

#define PATH_BYTES_MAX 4096

int sl_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_BYTES_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return sl_neg_errno();
		buf[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return sl_neg_errno();
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
