package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/retry"
	"github.com/sirupsen/logrus"
)

// reply is every WeCom answer's shape (unused fields stay empty).
type reply struct {
	Errcode        int    `json:"errcode"`
	Errmsg         string `json:"errmsg"`
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	UnlicensedUser string `json:"unlicenseduser"`
	receipt
}

// receipt is what message/send answers of a delivered app message; the
// result file keeps it.
type receipt struct {
	MsgID        string `json:"msgid,omitempty"`
	InvalidUser  string `json:"invaliduser,omitempty"`
	InvalidParty string `json:"invalidparty,omitempty"`
	InvalidTag   string `json:"invalidtag,omitempty"`
}

// APIError is a non-zero errcode.
type APIError struct {
	API     string
	Errcode int
	Errmsg  string
}

// Transient is true for -1 (system busy) and 45033 (too many concurrent
// calls): another attempt may pass (pkg/retry's rule asks).
func (e *APIError) Transient() bool { return e.Errcode == -1 || e.Errcode == 45033 }

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: WeCom errcode %d", e.API, e.Errcode)
	if m := meaning(e.Errcode); m != "" {
		msg += ": " + m
	}
	if e.Errmsg != "" {
		msg += fmt.Sprintf(" (errmsg %q)", truncateBytes(e.Errmsg, 300))
	}
	return msg
}

// wecomClient talks to WeCom for one run.
type wecomClient struct {
	http      *httpx.Client
	base      *url.URL
	retries   int
	backoff   time.Duration
	log       *logrus.Logger
	addSecret func(...string)
	token     string
}

func (s *job) newClient(env *plugin.Env) (*wecomClient, error) {
	h, err := env.HTTP(httpx.Options{Timeout: s.Timeout, Retries: -1})
	if err != nil {
		return nil, err
	}
	// A 307 would resend the body wherever it points: requests go to
	// api_base and nowhere else.
	h.HTTP().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &wecomClient{http: h, base: s.cfg.base, retries: s.Retries, backoff: s.RetryBackoff, log: env.Log, addSecret: env.Redactor.Add}, nil
}

func (c *wecomClient) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = path
	u.RawQuery = q.Encode()
	return u.String()
}

// call sends one request, retrying -1, 45033, 5xx, 429 and network errors
// with backoff (pkg/retry). A non-zero errcode comes back as *APIError.
func (c *wecomClient) call(ctx context.Context, api, method, path string, q url.Values, in any) (reply, error) {
	attempt := 0
	p := retry.Policy{Retries: c.retries, Base: c.backoff, Max: 30 * time.Second,
		OnRetry: func(err error, n int, wait time.Duration) {
			c.log.Warnf("%v; attempt %d of %d, again in %s", err, n, c.retries+1, wait.Round(time.Millisecond))
		}}
	r, err := retry.Do(ctx, p, func(ctx context.Context) (reply, error) {
		attempt++
		var r reply
		c.log.Debugf("%s %s (attempt %d)", method, path, attempt)
		err := c.http.DoJSON(ctx, httpx.Request{Method: method, URL: c.endpoint(path, q), In: in, Out: &r})
		err = stripURL(api, err)
		if err == nil && r.Errcode != 0 {
			err = &APIError{API: api, Errcode: r.Errcode, Errmsg: r.Errmsg}
		}
		return r, err
	})
	switch {
	case err == nil:
		c.log.Debugf("%s: errcode 0", api)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()) && !strings.HasPrefix(err.Error(), api+": "):
		err = fmt.Errorf("%s: %w", api, err) // ended during a wait
	}
	return r, err
}

// stripURL removes the request URL (which holds the token or key) from
// transport errors; the redactor would mask it too, but it never gets there.
func stripURL(api string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", api, ue.Err)
	}
	var se *httpx.StatusError
	if errors.As(err, &se) {
		return &statusError{api: api, code: se.StatusCode}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", api, err)
	}
	return nil
}

// statusError is an HTTP answer outside 2xx, without its URL (it holds
// the token or key).
type statusError struct {
	api  string
	code int
}

func (e *statusError) Error() string   { return fmt.Sprintf("%s: HTTP %d", e.api, e.code) }
func (e *statusError) HTTPStatus() int { return e.code }

// getToken fetches the app's access token; the token is registered as a
// secret before it can appear anywhere.
func (c *wecomClient) getToken(ctx context.Context, corpID, secret string) error {
	r, err := c.call(ctx, "gettoken", http.MethodGet, "/cgi-bin/gettoken", url.Values{"corpid": {corpID}, "corpsecret": {secret}}, nil)
	if r.AccessToken != "" {
		c.addSecret(r.AccessToken)
	}
	if err != nil {
		return err
	}
	if r.AccessToken == "" {
		return errors.New("gettoken: WeCom answered no access_token")
	}
	c.token = r.AccessToken
	return nil
}

// sendApp posts an app message, fetching the token once more when WeCom
// says it is invalid, expired or missing.
func (c *wecomClient) sendApp(ctx context.Context, corpID, secret string, m *AppMessage) (reply, error) {
	if c.token == "" {
		if err := c.getToken(ctx, corpID, secret); err != nil {
			return reply{}, err
		}
	}
	send := func() (reply, error) {
		return c.call(ctx, "message/send", http.MethodPost, "/cgi-bin/message/send", url.Values{"access_token": {c.token}}, m)
	}
	r, err := send()
	var ae *APIError
	if errors.As(err, &ae) && (ae.Errcode == 40014 || ae.Errcode == 42001 || ae.Errcode == 41001) {
		c.log.Infof("access token refused (errcode %d): fetching a new one", ae.Errcode)
		if err := c.getToken(ctx, corpID, secret); err != nil {
			return reply{}, err
		}
		r, err = send()
	}
	return r, err
}

func (c *wecomClient) sendRobot(ctx context.Context, key string, m *RobotMessage) error {
	_, err := c.call(ctx, "webhook/send", http.MethodPost, robotPath, url.Values{"key": {key}}, m)
	return err
}

// sent is one delivered message of the result file; an app message's
// receipt names the recipients WeCom did not know.
type sent struct {
	Target  string `json:"target"`
	MsgType string `json:"msgtype"`
	receipt
}

// outcome is the result file, .lightship/wechat-notify.json.
type outcome struct {
	Status  string   `json:"status"`
	Skipped string   `json:"skipped,omitempty"`
	Sent    []sent   `json:"sent"`
	Errors  []string `json:"errors,omitempty"`
}

// send delivers the plan to every target; one target's failure does not
// stop the others.
func (s *job) send(ctx context.Context, env *plugin.Env, c *wecomClient, p Plan) (outcome, error) {
	out := outcome{Status: p.Status, Sent: []sent{}}
	for _, n := range p.Notes {
		env.Log.Warn(n)
	}
	var errs []error
	if p.App != nil {
		r, err := c.sendApp(ctx, s.CorpID, s.CorpSecret, p.App)
		if err != nil {
			errs = append(errs, err)
		} else {
			out.Sent = append(out.Sent, sent{Target: "app", MsgType: p.App.MsgType, receipt: r.receipt})
			for _, w := range []struct{ what, ids string }{{"users", r.InvalidUser}, {"departments", r.InvalidParty}, {"tags", r.InvalidTag}, {"unlicensed users", r.UnlicensedUser}} {
				if w.ids != "" {
					env.Log.Warnf("WeCom could not deliver to these %s (not in the app's visible range?): %s", w.what, strings.ReplaceAll(w.ids, "|", ", "))
				}
			}
			env.Log.Infof("sent %s app message to %s (msgid %s)", p.App.MsgType, recipients(p.App), r.MsgID)
		}
	}
	for i, key := range s.cfg.robots {
		target := fmt.Sprintf("robot %d", i+1)
		if err := c.sendRobot(ctx, key, p.Robot); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", target, err))
			continue
		}
		out.Sent = append(out.Sent, sent{Target: target, MsgType: p.Robot.MsgType})
		env.Log.Infof("sent %s message to group %s", p.Robot.MsgType, target)
	}
	for _, e := range errs {
		out.Errors = append(out.Errors, env.Redactor.Scrub(e.Error()))
	}
	return out, errors.Join(errs...)
}

func recipients(m *AppMessage) string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"users", m.ToUser}, {"departments", m.ToParty}, {"tags", m.ToTag}} {
		if p.v != "" {
			parts = append(parts, p.k+" "+p.v)
		}
	}
	return strings.Join(parts, ", ")
}

func (s *job) writeResult(env *plugin.Env, o outcome) error {
	if o.Sent == nil {
		o.Sent = []sent{}
	}
	if err := env.WriteResult(o); err != nil {
		return err
	}
	facts := []any{map[string]any{"title": "status", "value": o.Status}}
	if o.Skipped != "" {
		facts = append(facts, map[string]any{"title": "skipped", "value": o.Skipped})
	}
	for _, x := range o.Sent {
		facts = append(facts, map[string]any{"title": x.Target, "value": strings.TrimSpace("sent " + x.MsgType + " " + x.MsgID)})
	}
	for _, e := range o.Errors {
		facts = append(facts, map[string]any{"title": "error", "value": e})
	}
	return result.WriteCard(env.Build.CardPath, env.Stdout, result.Card{
		Schema: "https://adaptivecards.io/schemas/adaptive-card.json",
		Data: map[string]any{
			"type": "AdaptiveCard", "version": "1.5",
			"body": []any{map[string]any{"type": "FactSet", "facts": facts}},
		},
	})
}
