/* fstrmio.h - the byte streams a dnstap writer writes Frame Streams to
 * (fstrmio.c): a file, a Unix socket, a TCP connection. Internal to
 * src/report/. */
#ifndef PKTSH_FSTRMIO_H
#define PKTSH_FSTRMIO_H
#include <fstrm.h>
#include "err.h"
#include "outfile.h"

enum pktsh_fstrmio_kind { PKTSH_FSTRMIO_FILE, PKTSH_FSTRMIO_UNIX, PKTSH_FSTRMIO_TCP };

struct pktsh_fstrmio;

/* Parses spec ("unix:PATH", "tcp:HOST:PORT", else a file path) into a
 * new stream; a file is opened (created) now unless defer is set, so
 * errors come back here; a socket read or write that stalls timeout_ms
 * fails. 0, or -1 and err. */
int pktsh_fstrmio_new(struct pktsh_fstrmio **out, const char *spec, int defer,
		      uint32_t timeout_ms, struct pktsh_err *err);
enum pktsh_fstrmio_kind pktsh_fstrmio_kind(const struct pktsh_fstrmio *io);
/* An fstrm writer over the stream (its content type given), which owns
 * the stream from then on (fstrm_writer_destroy frees it); NULL when
 * out of memory (the stream is freed). */
struct fstrm_writer *pktsh_fstrmio_writer(struct pktsh_fstrmio *io, const char *content_type);
/* From another thread: makes a blocked read or write on a socket return
 * at once (close uses it when a collector stops reading). */
void pktsh_fstrmio_shutdown(struct pktsh_fstrmio *io);
/* The last error the stream met, copied to out (cap bytes). */
void pktsh_fstrmio_last_error(struct pktsh_fstrmio *io, char *out, size_t cap);
#endif
