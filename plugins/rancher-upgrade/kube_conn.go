package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// kubeClients are REST clients for the two API groups the plugin uses.
// They are built on a scheme of apps/v1 and core/v1 only: client-go's typed
// clientsets import the scheme of every API group (about 16 MB of binary).
type kubeClients struct {
	apps, core *rest.RESTClient
	host       string
}

// restConfig builds the client configuration: server and token, the
// kubeconfig's current context, or Rancher's proxy of the cluster.
func (j *kubeJob) restConfig(ctx context.Context, env *plugin.Env) (*rest.Config, error) {
	var cfg *rest.Config
	switch c := j.conn; {
	case c.kubeconfig != nil:
		var err error
		if cfg, err = clientcmd.NewDefaultClientConfig(*c.kubeconfig, &clientcmd.ConfigOverrides{}).ClientConfig(); err != nil {
			return nil, plugin.Invalid("kubeconfig", "%v", err)
		}
	case c.rancherRoot != "":
		id, err := j.rancherClusterID(ctx, env)
		if err != nil {
			return nil, err
		}
		cfg = &rest.Config{Host: c.rancherRoot + "/k8s/clusters/" + id, BearerToken: c.token}
	default:
		cfg = &rest.Config{Host: c.server, BearerToken: c.token}
	}
	env.Redactor.Add(cfg.BearerToken, cfg.Password, string(cfg.KeyData))
	if env.Common.SkipVerify {
		cfg.Insecure, cfg.CAData, cfg.CAFile = true, nil, ""
	}
	if ca := env.Common.CACert; ca != "" && !cfg.Insecure {
		pem := []byte(ca)
		if !strings.Contains(ca, "-----BEGIN") {
			b, err := os.ReadFile(ca)
			if err != nil {
				return nil, plugin.Invalid("ca_cert", "%v", err)
			}
			pem = b
		}
		cfg.CAData = append(append([]byte{}, cfg.CAData...), pem...)
	}
	cfg.UserAgent = fmt.Sprintf("lightship-%s/%s", env.Name, env.Version)
	cfg.WarningHandler = warnings{env}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return debugRoundTripper{rt, env} }
	cfg.QPS, cfg.Burst = 20, 40
	return cfg, nil
}

// withKubeLog makes client-go log (through the context, its contextual
// klog logger) to the plugin's redacted debug log, not to stderr. klog's
// global SetLogger is not safe while another run uses the library.
func withKubeLog(ctx context.Context, env *plugin.Env) context.Context {
	return klog.NewContext(ctx, funcr.New(func(prefix, args string) { env.Log.Debug(strings.TrimSpace(prefix + " " + args)) }, funcr.Options{}))
}

// warnings passes the API server's Warning headers to the log.
type warnings struct{ env *plugin.Env }

func (w warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.env.Log.Warnf("Kubernetes: %s", text)
}

// debugRoundTripper logs each request's method, path and status at debug.
type debugRoundTripper struct {
	rt  http.RoundTripper
	env *plugin.Env
}

func (d debugRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := d.rt.RoundTrip(r)
	if err != nil {
		d.env.Log.Debugf("%s %s: %v", r.Method, r.URL.Path, err)
		return resp, err
	}
	d.env.Log.Debugf("%s %s?%s: %d [%s]", r.Method, r.URL.Path, r.URL.RawQuery, resp.StatusCode, time.Since(t0).Round(time.Millisecond))
	return resp, nil
}

func newKubeClients(cfg *rest.Config) (*kubeClients, error) {
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	codecs := serializer.NewCodecFactory(scheme)
	mk := func(gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
		c := rest.CopyConfig(cfg)
		c.GroupVersion, c.APIPath = &gv, apiPath
		c.NegotiatedSerializer = codecs.WithoutConversion()
		c.ContentType = runtime.ContentTypeJSON
		return rest.RESTClientFor(c)
	}
	apps, err := mk(appsv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	core, err := mk(corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &kubeClients{apps: apps, core: core, host: cfg.Host}, nil
}

// rancherClusterID returns the cluster setting when it is an id, else looks
// the name up in Rancher's /v3/clusters.
func (j *kubeJob) rancherClusterID(ctx context.Context, env *plugin.Env) (string, error) {
	c := j.conn
	if regexp.MustCompile(`^(local|c-[a-z0-9]{5}|c-m-[a-z0-9]{8})$`).MatchString(c.rancherCluster) {
		return c.rancherCluster, nil
	}
	client, err := env.HTTP(httpx.Options{Timeout: j.reqTimeout})
	if err != nil {
		return "", err
	}
	auth := "Bearer " + c.token
	env.Redactor.Add(auth)
	api := &apiClient{http: client, auth: auth}
	var list struct {
		Data []struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"data"`
	}
	if err := api.call(ctx, http.MethodGet, c.rancherRoot+"/v3/clusters?name="+url.QueryEscape(c.rancherCluster), nil, &list); err != nil {
		return "", fmt.Errorf("look up Rancher cluster %q: %w", c.rancherCluster, err)
	}
	var ids []string
	for _, d := range list.Data {
		if d.Name == c.rancherCluster {
			ids = append(ids, d.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", plugin.Invalid("cluster", "Rancher has no cluster named %q", c.rancherCluster)
	case 1:
		return ids[0], nil
	}
	return "", plugin.Invalid("cluster", "Rancher has %d clusters named %q (%s): give the id", len(ids), c.rancherCluster, strings.Join(ids, ", "))
}
