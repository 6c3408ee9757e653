/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error text for negative-errno returns (see error.h for the conventions).
 */
#include <string.h>

#include <sluice/error.h>

const char *sl_strerror(int err)
{
	static __thread char buf[128];
	if (err < 0)
		err = -err;
	/* GNU strerror_r returns a pointer, maybe to a static string. */
	return strerror_r(err, buf, sizeof(buf));
}
