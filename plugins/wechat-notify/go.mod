module github.com/lightship-ci/lightship/plugins/wechat-notify

go 1.26.0

require (
	github.com/lightship-ci/lightship/pkg v0.0.0
	github.com/sirupsen/logrus v1.10.2
	github.com/urfave/cli/v2 v2.27.7
)

require (
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/drone/envsubst v1.0.3 // indirect
	github.com/joho/godotenv v1.5.1 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/lightship-ci/lightship/pkg => ../../pkg
