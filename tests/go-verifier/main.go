// verify-ledger: an independent verifier of interdict's audit ledger, written against Go's own
// checksum-database code (golang.org/x/mod/sumdb/note and sumdb/tlog, from Debian's
// golang-golang-x-mod-dev package). It shares no code with interdict.
//
// Usage: verify-ledger KEYS BUNDLE [PROOF.tlog-proof | CONSISTENCY.txt]...
//
// It checks every checkpoint's note signature (note.Open), recomputes the tree from
// BUNDLE/entries.jsonl with tlog and compares every checkpoint's root (tlog.TreeHash), checks
// every tlog-proof (tlog.CheckRecord) and every consistency proof (tlog.CheckTree). Lines of a
// consistency file: "OLD NEW HASH,HASH,..." (base64; "-" for none). Exit 0 when all hold.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "verify-ledger: "+format+"\n", args...)
	os.Exit(1)
}

func openCheckpoint(msg []byte, verifiers note.Verifiers) checkpoint {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		fail("checkpoint body has fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint root: %v", err)
	}
	return checkpoint{origin: lines[0], size: size, root: root}
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: verify-ledger KEYS BUNDLE [PROOF]...")
	}
	keyText, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var vs []note.Verifier
	for _, line := range strings.Split(strings.TrimSpace(string(keyText)), "\n") {
		v, err := note.NewVerifier(strings.TrimSpace(line))
		if err != nil {
			fail("note.NewVerifier(%q): %v", line, err)
		}
		vs = append(vs, v)
	}
	verifiers := note.VerifierList(vs...)
	bundle := os.Args[2]

	// The tree, stored the tlog way.
	data, err := os.ReadFile(filepath.Join(bundle, "entries.jsonl"))
	if err != nil {
		fail("%v", err)
	}
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	var records [][]byte
	if len(data) > 0 {
		if data[len(data)-1] != '\n' {
			fail("entries.jsonl does not end with a newline")
		}
		records = bytes.Split(data[:len(data)-1], []byte("\n"))
	}
	for i, rec := range records {
		hs, err := tlog.StoredHashes(int64(i), rec, reader)
		if err != nil {
			fail("StoredHashes(%d): %v", i, err)
		}
		stored = append(stored, hs...)
	}
	n := int64(len(records))

	// Every checkpoint: signature and root.
	files, _ := filepath.Glob(filepath.Join(bundle, "checkpoints", "*.checkpoint"))
	sort.Strings(files)
	roots := map[int64]tlog.Hash{}
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		cp := openCheckpoint(msg, verifiers)
		if cp.size > n {
			fail("%s: size %d beyond the %d entries", f, cp.size, n)
		}
		th, err := tlog.TreeHash(cp.size, reader)
		if err != nil {
			fail("TreeHash(%d): %v", cp.size, err)
		}
		if th != cp.root {
			fail("%s: root %v, entries give %v", f, cp.root, th)
		}
		roots[cp.size] = cp.root
	}
	checked := len(files)

	for _, p := range os.Args[3:] {
		text, err := os.ReadFile(p)
		if err != nil {
			fail("%v", err)
		}
		if strings.HasSuffix(p, ".tlog-proof") {
			parts := strings.SplitN(string(text), "\n\n", 2)
			if len(parts) != 2 {
				fail("%s: no blank line", p)
			}
			lines := strings.Split(parts[0], "\n")
			if lines[0] != "c2sp.org/tlog-proof@v1" {
				fail("%s: bad header %q", p, lines[0])
			}
			lines = lines[1:]
			var extra []byte
			if strings.HasPrefix(lines[0], "extra ") {
				extra, err = base64.StdEncoding.DecodeString(lines[0][6:])
				if err != nil {
					fail("%s: extra: %v", p, err)
				}
				lines = lines[1:]
			}
			index, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "index "), 10, 64)
			if err != nil {
				fail("%s: index: %v", p, err)
			}
			var proof tlog.RecordProof
			for _, l := range lines[1:] {
				h, err := tlog.ParseHash(l)
				if err != nil {
					fail("%s: hash: %v", p, err)
				}
				proof = append(proof, h)
			}
			cp := openCheckpoint([]byte(parts[1]), verifiers)
			if err := tlog.CheckRecord(proof, cp.size, cp.root, index, tlog.RecordHash(extra)); err != nil {
				fail("%s: CheckRecord: %v", p, err)
			}
			checked++
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				fail("%s: bad line %q", p, line)
			}
			old, _ := strconv.ParseInt(f[0], 10, 64)
			nw, _ := strconv.ParseInt(f[1], 10, 64)
			var proof tlog.TreeProof
			if f[2] != "-" {
				for _, s := range strings.Split(f[2], ",") {
					h, err := tlog.ParseHash(s)
					if err != nil {
						fail("%s: hash: %v", p, err)
					}
					proof = append(proof, h)
				}
			}
			oldRoot, ok1 := roots[old]
			newRoot, ok2 := roots[nw]
			if !ok1 || !ok2 {
				fail("%s: no checkpoint for size %d or %d", p, old, nw)
			}
			if err := tlog.CheckTree(proof, nw, newRoot, old, oldRoot); err != nil {
				fail("%s: CheckTree(%d, %d): %v", p, old, nw, err)
			}
			checked++
		}
	}
	fmt.Printf("OK: %d entries; %d checkpoints and proofs accepted by Go's sumdb/note and sumdb/tlog\n", n, checked)
}
