// compose-check loads a Compose file the way Docker Compose does — compose-go, the Compose
// Specification's reference loader: schema validation, ${VAR} interpolation from an env file,
// YAML merge keys — and prints the resolved project as JSON (exit 1 with the reasons otherwise).
// test/integration/deploy-manifests.test.ts runs it on docker/docker-compose.yml: this machine
// has the docker CLI without the compose plugin, and Compose itself cannot be `go install`ed.
//
// Usage: compose-check <compose file> <env file>
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: compose-check <compose file> <env file>")
		os.Exit(2)
	}
	// Only the given env file feeds interpolation, never this process's environment or a
	// docker/.env lying next to the file, so the result is the same on every machine.
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithEnvFiles(os.Args[2]), cli.WithDotEnv)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
