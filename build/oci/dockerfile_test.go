package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// finalStage is what the last stage of a Dockerfile says about the image.
type finalStage struct {
	user       string
	entrypoint []string
	env        []string
	copied     []string // destinations of COPY
	packages   []string // apt-get install arguments that aren't flags
}

func parseFinalStage(t *testing.T, file string) finalStage {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	stages := regexp.MustCompile(`(?m)^FROM `).Split(text, -1)
	var st finalStage
	for _, line := range strings.Split(stages[len(stages)-1], "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch instr {
		case "USER":
			st.user = rest
		case "ENTRYPOINT":
			require.NoError(t, json.Unmarshal([]byte(rest), &st.entrypoint), line)
		case "ENV":
			st.env = append(st.env, rest)
		case "COPY":
			f := strings.Fields(rest)
			st.copied = append(st.copied, f[len(f)-1])
		case "RUN":
			if _, install, ok := strings.Cut(rest, "apt-get install"); ok {
				install, _, _ = strings.Cut(install, "&&")
				for _, w := range strings.Fields(install) {
					if !strings.HasPrefix(w, "-") {
						st.packages = append(st.packages, w)
					}
				}
			}
		}
	}
	return st
}

// TestDockerfilesDescribeTheSameImages holds build/*.Dockerfile, for users
// with a container engine, to the images make images builds without one.
func TestDockerfilesDescribeTheSameImages(t *testing.T) {
	for file, img := range map[string]Image{
		"manager.Dockerfile": ManagerImage,
		"sidecar.Dockerfile": SidecarImage,
		"cni.Dockerfile":     CNIImage,
	} {
		t.Run(file, func(t *testing.T) {
			st := parseFinalStage(t, filepath.Join("..", file))
			assert.Equal(t, NonRootUser, st.user)
			assert.Equal(t, []string{img.Program}, st.entrypoint)
			assert.Equal(t, []string{img.Program}, st.copied, "the Dockerfile copies the program where the image has it")
			assert.ElementsMatch(t, img.Packages, st.packages)
			// The Debian base image sets PATH; everything else is explicit.
			var env []string
			for _, e := range img.Env {
				if !strings.HasPrefix(e, "PATH=") {
					env = append(env, e)
				}
			}
			assert.Equal(t, env, st.env)
		})
	}
}

func TestParseLibraryDepends(t *testing.T) {
	out := []byte(`stunnel4
  PreDepends: adduser
  Depends: libc6
  Depends: libssl3
 |Depends: libsystemd0
    libelogind0
  Depends: <libfoo-virtual>
  Depends: perl
  Suggests: libnotwanted
`)
	assert.Equal(t, []string{"libc6", "libssl3", "libsystemd0", "libfoo-virtual"}, libraryDepends(out))
}
