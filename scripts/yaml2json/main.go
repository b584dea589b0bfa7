// Command yaml2json reads a stream of YAML documents ("---"-separated, as `helm template` and CRD files print them)
// on stdin and writes one JSON array of the non-empty documents to stdout. It converts with sigs.k8s.io/yaml, the
// library kubectl and the API machinery use, so a manifest means here what it means to a cluster.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

var separator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

func main() {
	input, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fail(err)
	}
	docs := []json.RawMessage{}
	for i, doc := range separator.Split(string(input), -1) {
		converted, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			fail(fmt.Errorf("document %d: %w", i+1, err))
		}
		if trimmed := bytes.TrimSpace(converted); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
			docs = append(docs, trimmed)
		}
	}
	out, err := json.Marshal(docs)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "yaml2json:", err)
	os.Exit(1)
}
