package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// exportWriter writes messages to mbox files or maildirs. Every file is
// created 0600 under a temporary name and renamed into place once
// complete (and, unless -no-fsync, synced), so a crash never leaves a
// partial file under a final name; directories are created 0700.
type exportWriter struct {
	st       *localstore.Store
	cfg      *exportConfig
	progress *progress
	written  int
	bytes    int64
}

// asctime is the date format of an mbox "From " line.
const asctime = "Mon Jan _2 15:04:05 2006"

// envelopeSender is the address of an mbox "From " line: the sender's
// address, or MAILER-DAEMON when there is none fit for the line.
func envelopeSender(addr string) string {
	if addr == "" || strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "MAILER-DAEMON"
	}
	return addr
}

// isFromLine reports whether line matches ^>*From (a line mboxrd quotes).
func isFromLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From "))
}

// isStatusField reports whether a header line starts a Status or X-Status
// field, which mbox readers take as the message's flags.
func isStatusField(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	return ok && (bytes.EqualFold(bytes.TrimSpace(name), []byte("Status")) || bytes.EqualFold(bytes.TrimSpace(name), []byte("X-Status")))
}

// writeMboxMessage appends one message in mboxrd form: a "From SENDER
// DATE" line, the message with CRLF turned into LF and every line
// matching ^>*From quoted with one more ">", a final newline, and an
// empty line. A read message gets the header field "Status: RO" (the
// flag mutt, Python's mailbox and most mbox readers take for read);
// Status fields already in the message are dropped.
func writeMboxMessage(w *bufio.Writer, sender string, date time.Time, raw []byte, read bool) {
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	fmt.Fprintf(w, "From %s %s\n", envelopeSender(sender), date.UTC().Format(asctime))
	header, skipping := true, false
	for len(raw) > 0 {
		line, rest, _ := bytes.Cut(raw, []byte("\n"))
		raw = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		if header {
			switch {
			case len(line) == 0:
				header = false
				if read {
					w.WriteString("Status: RO\n")
				}
			case skipping && (line[0] == ' ' || line[0] == '\t'):
				continue
			default:
				if skipping = isStatusField(line); skipping {
					continue
				}
			}
		}
		if isFromLine(line) {
			w.WriteByte('>')
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	if header && read { // a message of headers only
		w.WriteString("Status: RO\n")
	}
	w.WriteByte('\n')
}

// writeMbox writes one folder's mbox file.
func (w *exportWriter) writeMbox(ctx context.Context, mb localstore.Mailbox, f *exportFolder) error {
	return w.writeAtomic(filepath.Dir(f.dest), filepath.Base(f.dest), func(bw *bufio.Writer) error {
		for _, it := range f.items {
			raw, err := w.st.MIMEBytes(ctx, mb, it.id)
			if err != nil {
				return fmt.Errorf("MIME of %s in %s: %w", it.id, f.path(), err)
			}
			writeMboxMessage(bw, it.sender, it.received, raw, it.isRead)
			w.written++
			w.bytes += int64(len(raw))
			w.progress.add(f.path())
		}
		return nil
	})
}

// writeAtomic creates dir/name with what fn writes: a temporary file in
// dir, synced and renamed to name when fn succeeds, removed when it fails.
func (w *exportWriter) writeAtomic(dir, name string, fn func(*bufio.Writer) error) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := fn(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := w.finish(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return w.syncDir(dir)
}

// finish syncs (unless -no-fsync) and closes a written file.
func (w *exportWriter) finish(f *os.File) error {
	if !w.cfg.noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir makes the renames in dir durable (unless -no-fsync).
func (w *exportWriter) syncDir(dir string) error {
	if w.cfg.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// makeMaildir creates dir with cur, new and tmp; a Maildir++ subfolder
// also gets the empty maildirfolder file.
func (w *exportWriter) makeMaildir(dir string, sub bool) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	if sub {
		f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		return f.Close()
	}
	return nil
}

// maildirName is the unique part of an exported message's file name:
// the receive time and a hash of the item id, so the same item always
// gets the same name.
func maildirName(it exportItem) string {
	sum := sha256.Sum256([]byte(it.id))
	return fmt.Sprintf("%d.%s.mailsync", max(it.received.Unix(), 0), hex.EncodeToString(sum[:10]))
}

// writeMaildir writes one folder's messages the way Maildir delivery
// does: each into tmp/, then renamed into new/ (unread, no info) or cur/
// with the info ":2,S" (read). Line ends are LF.
func (w *exportWriter) writeMaildir(ctx context.Context, mb localstore.Mailbox, f *exportFolder) error {
	if err := w.makeMaildir(f.dest, f.subfolder); err != nil {
		return err
	}
	touched := map[string]bool{}
	for _, it := range f.items {
		raw, err := w.st.MIMEBytes(ctx, mb, it.id)
		if err != nil {
			return fmt.Errorf("MIME of %s in %s: %w", it.id, f.path(), err)
		}
		name := maildirName(it)
		final := filepath.Join(f.dest, "new", name)
		if it.isRead {
			final = filepath.Join(f.dest, "cur", name+":2,S")
		}
		if err := w.deliver(filepath.Join(f.dest, "tmp", name), final, bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))); err != nil {
			return err
		}
		touched[filepath.Dir(final)] = true
		w.written++
		w.bytes += int64(len(raw))
		w.progress.add(f.path())
	}
	for d := range touched {
		if err := w.syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// deliver writes data to tmp (which must not exist) and renames it to
// final.
func (w *exportWriter) deliver(tmp, final string, data []byte) (err error) {
	fh, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			fh.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := fh.Write(data); err != nil {
		return err
	}
	if err := w.finish(fh); err != nil {
		return err
	}
	if _, err := os.Lstat(final); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("export: %s exists already", final)
	}
	return os.Rename(tmp, final)
}
