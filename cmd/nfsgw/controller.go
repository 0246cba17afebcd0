package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"nfsgw/gateway/config"
	"nfsgw/internal/k8sctl"
)

// runController is `nfsgw controller`: the Kubernetes controller that keeps
// one Service per gateway and removes scaled-down members from the grace
// database (docs/kubernetes.md). It returns the exit status.
func runController(args []string) int {
	fl := flag.NewFlagSet("nfsgw controller", flag.ContinueOnError)
	ns := fl.String("namespace", os.Getenv("POD_NAMESPACE"), "namespace of the gateways' StatefulSet (default $POD_NAMESPACE)")
	sts := fl.String("statefulset", "", "name of the gateways' StatefulSet")
	kubeconfig := fl.String("kubeconfig", "", "kubeconfig file (default: the pod's in-cluster credentials)")
	svcConf := fl.String("service-config", "", "the per-gateway Services' settings, the chart's service: values as YAML or JSON (default: ClusterIP)")
	gwConf := fl.String("config", "", "the gateways' configuration file: its ceph and cluster sections name the grace database (default: none, no member is removed)")
	prefix := fl.String("node-id-prefix", "gw", "the gateways' --node-id-from-ordinal prefix: member PREFIX+N is ordinal N")
	lease := fl.String("lease", "", "leader lease name (default STATEFULSET-controller; none: no leader election)")
	identity := fl.String("identity", os.Getenv("POD_NAME"), "this instance's name in the leader lease and its events (default $POD_NAME, else the host name)")
	logLevel := fl.String("log-level", "info", "trace, debug, info, warn or error")
	logFormat := fl.String("log-format", "text", "text or json")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(err error) int {
		fmt.Fprintln(os.Stderr, "nfsgw controller:", err)
		return 2
	}
	switch {
	case fl.NArg() > 0:
		return usage(fmt.Errorf("unexpected argument %q", fl.Arg(0)))
	case *ns == "":
		return usage(errors.New("--namespace is required"))
	case *sts == "":
		return usage(errors.New("--statefulset is required"))
	case *logFormat != "text" && *logFormat != "json":
		return usage(fmt.Errorf("--log-format %q: want text or json", *logFormat))
	}
	if *identity == "" {
		*identity, _ = os.Hostname()
	}
	switch *lease {
	case "":
		*lease = *sts + "-controller"
	case "none":
		*lease = ""
	}
	svc, err := k8sctl.ParseServiceConfig([]byte("{}"))
	if *svcConf != "" {
		b, rerr := os.ReadFile(*svcConf)
		if rerr != nil {
			return usage(rerr)
		}
		svc, err = k8sctl.ParseServiceConfig(b)
	}
	if err != nil {
		return usage(err)
	}
	var gw *config.Config
	if *gwConf != "" {
		if gw, err = config.Load(*gwConf); err != nil {
			return usage(err)
		}
		if !gw.Cluster.Enabled() {
			return usage(fmt.Errorf("%s: no cluster.pool: the gateways have no grace database", *gwConf))
		}
		// The controller is no member: a node id only to pass the checks
		// that fill the cluster section's defaults.
		gw.NodeID = "nfsgw-controller"
		if err := gw.Validate(); err != nil {
			return usage(err)
		}
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "nfsgw-controller", Level: hclog.LevelFromString(*logLevel), JSONFormat: *logFormat == "json"})
	k8sctl.LogClientGoTo(log.Named("client-go"))

	var rc *rest.Config
	if *kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return usage(fmt.Errorf("kubernetes credentials: %w", err))
	}
	rc.UserAgent = "nfsgw-controller/" + version
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return usage(err)
	}
	c := k8sctl.Config{Client: client, Namespace: *ns, StatefulSet: *sts, NodeIDPrefix: *prefix, Services: svc,
		Log: log, Identity: *identity, Lease: *lease}
	if gw != nil {
		members, closeMembers, err := openMembers(gw, log.Named("grace"))
		if err != nil {
			log.Error("cannot open the grace database", "pool", gw.Cluster.Pool, "namespace", gw.Cluster.Namespace, "error", err)
			return 1
		}
		defer closeMembers()
		c.Members = members
	} else {
		log.Warn("no --config: the grace database is not read; scaled-down members are left to the gateways' fencing")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("starting", "version", version, "namespace", *ns, "statefulset", *sts, "lease", *lease, "identity", *identity)
	if err := k8sctl.Run(ctx, c); err != nil {
		log.Error("stopped", "error", err)
		return 1
	}
	return 0
}
