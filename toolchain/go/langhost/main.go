// Command pulumi-language-python is a small Python language host for the Pulumi engine.
//
// Why it exists: the official host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), and the Go module
// proxy reachable from our machines serves no version of it (403 for every version).
// The engine, the Python SDK and the `pulumi-language-python-exec` launcher all come from
// the pinned Pulumi release; this host only implements the gRPC contract between them:
//
//   - Run: start `python -u pulumi-language-python-exec ... <program>` in the project's
//     virtualenv with the stack config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS.
//   - RunPlugin: start a Python plugin directory (policy packs) as `python <dir> <args>`.
//   - GetRequiredPlugins / GetRequiredPackages: nothing up front. Provider plugins are
//     installed by `make setup`; the engine loads them when a resource needs one.
//   - InstallDependencies: dependencies are managed by `make setup`, not by the engine.
//
// It supports the pip toolchain with a `virtualenv` runtime option, which is what
// Pulumi.yaml and PulumiPolicy.yaml in this repository use.
//
// It exits when its engine goes away (killed, or exited early, e.g. after a failed decrypt):
// the engine is its parent, so being reparented means the engine is gone; the engine's gRPC
// health is checked too, as the official host does (rpcutil.Healthcheck), but more often.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Set at build time with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

// Exit code the launcher uses after it has already shown the user an actionable message.
const exitAfterUserMessage = 32

const (
	// How often the parent pid and the engine's health are checked.
	parentCheckInterval = 200 * time.Millisecond
	engineCheckInterval = 2 * time.Second
	// How long requests in flight may take to finish once the engine is gone.
	shutdownGrace = 3 * time.Second
)

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	execPath      string
}

func main() {
	// The engine passes these; glog (linked in via the SDK) already defines -logtostderr and -v.
	flag.String("tracing", "", "ignored: tracing endpoint")
	flag.String("root", "", "ignored: project root (taken from each request)")
	flag.Parse()

	h := &host{}
	if flag.NArg() > 0 {
		h.engineAddress = flag.Arg(0)
	}
	self, err := os.Executable()
	if err != nil {
		fail("cannot locate own executable: %v", err)
	}
	h.execPath = filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(h.execPath); err != nil {
		fail("launcher %s is missing; run `make setup`", h.execPath)
	}

	engineGone := make(chan bool)
	var stopping sync.Once
	stop := func(reason string) {
		stopping.Do(func() {
			fmt.Fprintf(os.Stderr, "pulumi-language-python: %s; exiting\n", reason)
			close(engineGone)
			// A Run whose program ignores the cancellation must not keep us alive.
			time.AfterFunc(shutdownGrace, func() { os.Exit(1) })
		})
	}
	go watchParent(os.Getppid(), func() { stop("the engine (our parent process) is gone") })
	if h.engineAddress != "" {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		err := rpcutil.Healthcheck(ctx, h.engineAddress, engineCheckInterval, func() {
			stop("the engine stopped answering at " + h.engineAddress)
		})
		if err != nil {
			fail("cannot watch the engine at %s: %v", h.engineAddress, err)
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: engineGone,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fail("could not start language host: %v", err)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail("language host stopped: %v", err)
	}
}

// watchParent calls gone once this process has been reparented: its parent exited.
func watchParent(parent int, gone func()) {
	ticker := time.NewTicker(parentCheckInterval)
	defer ticker.Stop()
	for range ticker.C {
		if os.Getppid() != parent {
			gone()
			return
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: "+format+"\n", args...)
	os.Exit(1)
}

// pythonToolchain resolves the virtualenv named by the runtime options of a project or plugin.
func pythonToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Pip,
		Virtualenv: virtualenvDir(info),
	}
	if o := info.GetOptions(); o != nil {
		if tc, ok := o.AsMap()["toolchain"].(string); ok && tc != "" && tc != "pip" {
			return nil, fmt.Errorf("runtime option toolchain=%q is not supported by this host; use pip", tc)
		}
	}
	return toolchain.ResolveToolchain(opts)
}

// virtualenvDir is the program's `virtualenv` runtime option as an absolute path ("" without one).
func virtualenvDir(info *pulumirpc.ProgramInfo) string {
	o := info.GetOptions()
	if o == nil {
		return ""
	}
	v, ok := o.AsMap()["virtualenv"].(string)
	if !ok || v == "" {
		return ""
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(info.GetRootDirectory(), v)
	}
	return v
}

// pyvenvVersion is the `version` (Python 3.11+: also `version_info`) line of a pyvenv.cfg,
// "" when the file or the line is missing.
func pyvenvVersion(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, found := strings.Cut(line, "=")
		if !found {
			continue
		}
		switch strings.TrimSpace(key) {
		case "version", "version_info":
			return strings.TrimSpace(value)
		}
	}
	return ""
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// About answers from the virtualenv's pyvenv.cfg when there is one. The CLI asks About on
// every preview, update and refresh (its update metadata: cmd/pulumi/metadata,
// GetLanguageRuntimeMetadata), and the SDK's pip toolchain answers it with three Python
// processes (`python --version`, `python -c 'import sys; print(sys.executable)'`,
// `python -m pip --version`): 0.2-0.5 CPU s on every run, competing with the run itself
// (bench/README.md). The file `python -m venv` writes holds the same version; the executable
// is the virtualenv's own python. Without a readable pyvenv.cfg, the toolchain answers.
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	if venv := virtualenvDir(req.GetInfo()); venv != "" {
		if version := pyvenvVersion(filepath.Join(venv, "pyvenv.cfg")); version != "" {
			return &pulumirpc.AboutResponse{Executable: filepath.Join(venv, "bin", "python"), Version: version}, nil
		}
	}
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	msg := "Python dependencies are installed by `make setup` (pinned in pyproject.toml).\n"
	return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte(msg)})
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	args := []string{"-u", h.execPath}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	stackConfig := req.GetConfig()
	if stackConfig == nil {
		stackConfig = map[string]string{}
	}
	config, err := json.Marshal(stackConfig)
	if err != nil {
		return nil, fmt.Errorf("serialising stack config: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serialising secret config keys: %w", err)
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(keys))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr

	if err := cmd.Run(); err != nil {
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.ExitStatus() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d",
				exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python launcher: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	tc, err := pythonToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	args := append([]string{"-u", req.GetInfo().GetProgramDirectory()}, req.GetArgs()...)
	cmd, err := tc.Command(server.Context(), args...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Dir = req.GetPwd()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
			})
		}
		return err
	}
	return closer.Close()
}
