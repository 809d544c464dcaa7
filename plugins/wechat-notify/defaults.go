package main

// Default templates, by language and use. Status colour: textcard
// <div class="highlight"> and markdown <font color="warning"> on failure.
var defaults = map[string]map[string]string{
	"zh": {
		"title": `{{ .Repo.Slug }} #{{ .Build.Number }} {{ if success }}构建成功{{ else }}构建失败{{ end }}`,
		"textcard": `{{ with datetime .Build.Started }}<div class="gray">{{ . }}</div>{{ end }}` +
			`{{ if success }}<div class="normal">构建成功</div>{{ else }}<div class="highlight">构建失败{{ with .Build.FailedSteps }}：{{ join . "、" }}{{ end }}</div>{{ end }}` +
			`<div class="normal">分支 {{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}</div>{{ .Commit.Title }}`,
		"text": "{{ .Title }}\n" +
			"{{ with .Build.FailedSteps }}失败步骤: {{ join . \"、\" }}\n{{ end }}" +
			"分支: {{ .Commit.Branch }}  提交: {{ short .Commit.SHA }}  作者: {{ .Commit.Author }}\n" +
			"{{ .Commit.Title }}\n" +
			`<a href="{{ .URL }}">查看构建</a>`,
		"markdown": "### {{ .Title }}\n" +
			"> 状态: {{ if success }}<font color=\"info\">构建成功</font>{{ else }}<font color=\"warning\">构建失败</font>{{ end }}\n" +
			"{{ with .Build.FailedSteps }}> 失败步骤: <font color=\"warning\">{{ join . \"、\" }}</font>\n{{ end }}" +
			"> 分支: {{ .Commit.Branch }}\n" +
			"> 提交: {{ short .Commit.SHA }} {{ .Commit.Title }}\n" +
			"> 作者: <font color=\"comment\">{{ .Commit.Author }}</font>\n\n" +
			"[查看构建]({{ .URL }})",
		"markdown_v2": "### {{ if success }}✅{{ else }}❌{{ end }} {{ .Title }}\n" +
			"{{ with .Build.FailedSteps }}- 失败步骤: {{ join . \"、\" }}\n{{ end }}" +
			"- 分支: `{{ .Commit.Branch }}`\n" +
			"- 提交: `{{ short .Commit.SHA }}` {{ .Commit.Title }}\n" +
			"- 作者: {{ .Commit.Author }}\n\n" +
			"[查看构建]({{ .URL }})",
		"news": "{{ if success }}构建成功{{ else }}构建失败{{ with .Build.FailedSteps }}：{{ join . \"、\" }}{{ end }}{{ end }}\n" +
			"{{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}\n{{ .Commit.Title }}",
	},
	"en": {
		"title": `{{ .Repo.Slug }} #{{ .Build.Number }} {{ if success }}succeeded{{ else }}failed{{ end }}`,
		"textcard": `{{ with datetime .Build.Started }}<div class="gray">{{ . }}</div>{{ end }}` +
			`{{ if success }}<div class="normal">Build succeeded</div>{{ else }}<div class="highlight">Build failed{{ with .Build.FailedSteps }}: {{ join . ", " }}{{ end }}</div>{{ end }}` +
			`<div class="normal">{{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}</div>{{ .Commit.Title }}`,
		"text": "{{ .Title }}\n" +
			"{{ with .Build.FailedSteps }}Failed steps: {{ join . \", \" }}\n{{ end }}" +
			"Branch: {{ .Commit.Branch }}  Commit: {{ short .Commit.SHA }}  Author: {{ .Commit.Author }}\n" +
			"{{ .Commit.Title }}\n" +
			`<a href="{{ .URL }}">Open the build</a>`,
		"markdown": "### {{ .Title }}\n" +
			"> Status: {{ if success }}<font color=\"info\">success</font>{{ else }}<font color=\"warning\">failure</font>{{ end }}\n" +
			"{{ with .Build.FailedSteps }}> Failed steps: <font color=\"warning\">{{ join . \", \" }}</font>\n{{ end }}" +
			"> Branch: {{ .Commit.Branch }}\n" +
			"> Commit: {{ short .Commit.SHA }} {{ .Commit.Title }}\n" +
			"> Author: <font color=\"comment\">{{ .Commit.Author }}</font>\n\n" +
			"[Open the build]({{ .URL }})",
		"markdown_v2": "### {{ if success }}✅{{ else }}❌{{ end }} {{ .Title }}\n" +
			"{{ with .Build.FailedSteps }}- Failed steps: {{ join . \", \" }}\n{{ end }}" +
			"- Branch: `{{ .Commit.Branch }}`\n" +
			"- Commit: `{{ short .Commit.SHA }}` {{ .Commit.Title }}\n" +
			"- Author: {{ .Commit.Author }}\n\n" +
			"[Open the build]({{ .URL }})",
		"news": "{{ if success }}Build succeeded{{ else }}Build failed{{ with .Build.FailedSteps }}: {{ join . \", \" }}{{ end }}{{ end }}\n" +
			"{{ .Commit.Branch }} · {{ short .Commit.SHA }} · {{ .Commit.Author }}\n{{ .Commit.Title }}",
	},
}
