// Command spacectl is decco's command line; see package spacectl. Installed
// as kubectl-space it is the kubectl plugin `kubectl space`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/decco-dev/decco/spacectl"
)

func main() {
	os.Exit(spacectl.Main(os.Args, genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
