// Command kstatus prints the verdict of sigs.k8s.io/cli-utils/pkg/kstatus (the library
// Argo CD's and Flux's health checks build on) for Kubernetes objects read as JSON on
// stdin: one object, or a List of them. It writes one JSON line per object.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kubejson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	raw, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	// apimachinery's decoder keeps integers int64, as the status accessors expect.
	var document map[string]interface{}
	if err := kubejson.Unmarshal(raw, &document); err != nil {
		return fmt.Errorf("stdin is not a JSON object: %w", err)
	}
	objects := []map[string]interface{}{document}
	if items, isList := document["items"].([]interface{}); isList {
		objects = objects[:0]
		for _, item := range items {
			object, ok := item.(map[string]interface{})
			if !ok {
				return fmt.Errorf("a List item is not an object")
			}
			objects = append(objects, object)
		}
	}
	encoder := json.NewEncoder(out)
	for _, object := range objects {
		u := &unstructured.Unstructured{Object: object}
		result, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		line := verdict{u.GetKind(), u.GetName(), result.Status.String(), result.Message}
		if err := encoder.Encode(line); err != nil {
			return err
		}
	}
	return nil
}
