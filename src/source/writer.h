/* writer.h - every open pcap writer, at exit and on a fatal signal (writer.c). */
#ifndef PKTSH_WRITER_H
#define PKTSH_WRITER_H

void pktsh_writers_close_all(void);
void pktsh_writers_emergency_flush(void); /* async-signal-safe; then _exit */
#endif
