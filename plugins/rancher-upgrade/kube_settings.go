package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeSettings are the settings of the Kubernetes backend.
type KubeSettings struct {
	Server     string
	Token      string
	Kubeconfig string
	Cluster    string
	Namespace  string
	Workloads  string
	DryRun     bool
}

func (k *KubeSettings) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubernetes_server", Usage: "Kubernetes: API server URL (https://host:6443), with kubernetes_token", EnvVars: plugin.EnvVars("kubernetes_server"), Destination: &k.Server},
		&cli.StringFlag{Name: "kubernetes_token", Usage: "Kubernetes: bearer token of a service account that may patch the workloads", EnvVars: plugin.EnvVars("kubernetes_token"), Destination: &k.Token},
		&cli.StringFlag{Name: "kubeconfig", Usage: "Kubernetes: kubeconfig content or file path; its current context is used", EnvVars: plugin.EnvVars("kubeconfig", "KUBECONFIG_CONTENT"), Destination: &k.Kubeconfig},
		&cli.StringFlag{Name: "cluster", Usage: "Rancher 2.x: cluster id (c-xxxxx, local) or name; with url and the API keys, through Rancher's /k8s/clusters/<id> proxy", EnvVars: plugin.EnvVars("cluster"), Destination: &k.Cluster},
		&cli.StringFlag{Name: "namespace", Usage: "Kubernetes: namespace of the workloads (default: the kubeconfig context's, else default)", EnvVars: plugin.EnvVars("namespace"), Destination: &k.Namespace},
		&cli.StringFlag{Name: "workloads", Usage: "Kubernetes: deployment/NAME, statefulset/NAME, daemonset/NAME (NAME alone: a Deployment), comma or newline separated", EnvVars: plugin.EnvVars("workloads"), Destination: &k.Workloads},
		&cli.BoolFlag{Name: "dry_run", Usage: "Kubernetes: print the plan and the patches, send none", EnvVars: plugin.EnvVars("dry_run"), Destination: &k.DryRun},
	}
}

// kubeMode: any Kubernetes setting (or api: kubernetes) picks this backend.
func (s *Settings) kubeMode() bool {
	k := s.Kube
	return s.API == "kubernetes" || k.Server != "" || k.Kubeconfig != "" || k.Cluster != "" || k.Workloads != ""
}

// workloadRef is one entry of the workloads setting.
type workloadRef struct {
	Resource string // deployments, statefulsets, daemonsets
	Kind     string // deployment, statefulset, daemonset
	Name     string
}

func (w workloadRef) String() string { return w.Kind + "/" + w.Name }

// kubeConn says how to reach the API server; Rancher clusters are resolved
// when the job runs.
type kubeConn struct {
	server, token  string
	kubeconfig     *clientcmdapi.Config
	rancherRoot    string // https://rancher.example.com
	rancherCluster string
	via            string // for the plan's heading
}

// kubeJob is the checked Kubernetes work.
type kubeJob struct {
	*job
	conn       kubeConn
	namespace  string
	workloads  []workloadRef
	containers []string
}

// validateKube checks the Kubernetes settings and derives the job.
func (s *Settings) validateKube(env *plugin.Env) (*kubeJob, error) {
	j := &kubeJob{job: &job{Settings: s, apiVersion: "kubernetes"}}
	if s.Service != "" || s.Services != "" {
		return nil, plugin.Invalid("service", "is for Rancher 1.6 and the v3 API: on Kubernetes name the workloads in workloads")
	}
	if err := j.checkConn(env); err != nil {
		return nil, err
	}
	var err error
	if j.workloads, err = parseWorkloads(s.Kube.Workloads); err != nil {
		return nil, err
	}
	j.containers = setting.List(s.Container)
	if err := j.checkTimings(); err != nil {
		return nil, err
	}
	if len(setting.List(s.Sidekick)) > 0 {
		return nil, plugin.Invalid("sidekick", "sidekicks exist only on Rancher 1.6 (v2-beta)")
	}
	if j.labels, err = s.buildLabels(j.apiVersion); err != nil {
		return nil, err
	}
	for _, l := range j.labels {
		if errs := append(validation.IsQualifiedName(l.Key), validation.IsValidLabelValue(l.Value)...); len(errs) > 0 {
			return nil, plugin.Invalid(labelSetting(l.Key), "%s=%s is not a Kubernetes label: %s", l.Key, l.Value, strings.Join(errs, "; "))
		}
	}
	if err := j.resolveImage(env); err != nil {
		return nil, err
	}
	return j, nil
}

// labelSetting names the setting a label came from.
func labelSetting(key string) string {
	if rest, ok := strings.CutPrefix(key, "traefik."); ok {
		return "traefik_" + rest
	}
	return "labels"
}

func parseWorkloads(v string) ([]workloadRef, error) {
	items := setting.List(v)
	if len(items) == 0 {
		return nil, plugin.Required("workloads")
	}
	var out []workloadRef
	seen := map[string]bool{}
	for _, item := range items {
		kind, name, ok := strings.Cut(item, "/")
		if !ok {
			kind, name = "deployment", item
		}
		ref := workloadRef{Name: name}
		switch strings.ToLower(kind) {
		case "deployment", "deployments", "deploy", "deployment.apps":
			ref.Resource, ref.Kind = "deployments", "deployment"
		case "statefulset", "statefulsets", "sts", "statefulset.apps":
			ref.Resource, ref.Kind = "statefulsets", "statefulset"
		case "daemonset", "daemonsets", "ds", "daemonset.apps":
			ref.Resource, ref.Kind = "daemonsets", "daemonset"
		default:
			return nil, plugin.Invalid("workloads", "%q must be deployment/NAME, statefulset/NAME, daemonset/NAME or NAME", item)
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return nil, plugin.Invalid("workloads", "%q: %q is not a workload name: %s", item, name, strings.Join(errs, "; "))
		}
		if !seen[ref.String()] {
			seen[ref.String()] = true
			out = append(out, ref)
		}
	}
	return out, nil
}

// checkConn picks how to reach the cluster: exactly one of
// kubernetes_server, kubeconfig, or url with cluster (Rancher 2).
func (j *kubeJob) checkConn(env *plugin.Env) error {
	k := j.Kube
	n := 0
	for _, set := range []bool{k.Server != "", k.Kubeconfig != "", k.Cluster != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return &plugin.SettingsError{Setting: plugin.EnvName("kubernetes_server"), Msg: "is required for workloads (or kubeconfig, or url and cluster for Rancher 2)"}
	case n > 1:
		return plugin.Invalid("kubernetes_server", "set one of kubernetes_server, kubeconfig and cluster")
	case k.Server != "":
		return j.checkServer()
	case k.Kubeconfig != "":
		return j.checkKubeconfig(env)
	}
	return j.checkRancher(env)
}

func (j *kubeJob) checkServer() error {
	k := j.Kube
	u, err := url.Parse(strings.TrimSpace(k.Server))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return plugin.Invalid("kubernetes_server", "%q must be the API server's https URL", k.Server)
	}
	if k.Token == "" {
		return plugin.Required("kubernetes_token")
	}
	j.conn = kubeConn{server: strings.TrimRight(u.String(), "/"), token: k.Token, via: "Kubernetes API " + u.Host}
	j.namespace = orDefault(k.Namespace, "default")
	return nil
}

// checkKubeconfig reads the kubeconfig (content, or a file path) and its
// current context; every credential in it is registered as a secret.
func (j *kubeJob) checkKubeconfig(env *plugin.Env) error {
	k := j.Kube
	raw := []byte(k.Kubeconfig)
	if !strings.Contains(k.Kubeconfig, "\n") && !strings.Contains(k.Kubeconfig, "apiVersion") {
		b, err := os.ReadFile(strings.TrimSpace(k.Kubeconfig))
		if err != nil {
			return plugin.Invalid("kubeconfig", "neither kubeconfig content nor a readable file: %v", err)
		}
		raw = b
		env.Redactor.Add(string(b))
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return plugin.Invalid("kubeconfig", "not a kubeconfig: %v", err)
	}
	for _, a := range cfg.AuthInfos {
		env.Redactor.Add(a.Token, a.Password, string(a.ClientKeyData), string(a.ClientCertificateData))
	}
	if cfg.CurrentContext == "" {
		return plugin.Invalid("kubeconfig", "has no current-context (contexts: %s)", strings.Join(contextNames(cfg), ", "))
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return plugin.Invalid("kubeconfig", "current-context %q is not one of its contexts (%s)", cfg.CurrentContext, strings.Join(contextNames(cfg), ", "))
	}
	if _, ok := cfg.Clusters[ctx.Cluster]; !ok {
		return plugin.Invalid("kubeconfig", "context %q names cluster %q, which it does not define", cfg.CurrentContext, ctx.Cluster)
	}
	j.conn = kubeConn{kubeconfig: cfg, via: fmt.Sprintf("kubeconfig context %s (%s)", cfg.CurrentContext, cfg.Clusters[ctx.Cluster].Server)}
	j.namespace = orDefault(k.Namespace, orDefault(ctx.Namespace, "default"))
	return nil
}

func contextNames(cfg *clientcmdapi.Config) []string {
	var out []string
	for n := range cfg.Contexts {
		out = append(out, n)
	}
	if len(out) == 0 {
		out = append(out, "none")
	}
	return out
}

// checkRancher reads url, the API keys (or token) and cluster.
func (j *kubeJob) checkRancher(env *plugin.Env) error {
	s := j.Settings
	if s.URL == "" {
		return plugin.Required("url")
	}
	u, err := url.Parse(strings.TrimSpace(s.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return plugin.Invalid("url", "%q must be the Rancher server's https URL", s.URL)
	}
	if i := strings.Index(u.Path, "/v3"); i >= 0 {
		u.Path = u.Path[:i]
	}
	u.RawQuery, u.Fragment = "", ""
	token := s.Token
	if token == "" {
		if s.AccessKey == "" || s.SecretKey == "" {
			return &plugin.SettingsError{Setting: plugin.EnvName("access_key"), Msg: "and secret_key (or token) are required for a Rancher cluster"}
		}
		token = s.AccessKey + ":" + s.SecretKey
	}
	env.Redactor.Add(token)
	root := strings.TrimRight(u.String(), "/")
	j.conn = kubeConn{rancherRoot: root, rancherCluster: s.Kube.Cluster, token: token, via: "Rancher " + u.Host + " cluster " + s.Kube.Cluster}
	j.namespace = orDefault(s.Kube.Namespace, "default")
	return nil
}
