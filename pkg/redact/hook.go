package redact

import (
	"fmt"

	"github.com/sirupsen/logrus"
)

// Hook is a logrus hook that scrubs the message and every field of an entry
// before it is formatted.
type Hook struct{ R *Redactor }

// Levels implements logrus.Hook.
func (h Hook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (h Hook) Fire(e *logrus.Entry) error {
	e.Message = h.R.Scrub(e.Message)
	for k, v := range e.Data {
		switch v := v.(type) {
		case string:
			e.Data[k] = h.R.Scrub(v)
		case error:
			e.Data[k] = h.R.Scrub(v.Error())
		case []byte:
			e.Data[k] = h.R.Scrub(string(v))
		case fmt.Stringer:
			e.Data[k] = h.R.Scrub(v.String())
		case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		default:
			e.Data[k] = h.R.Scrub(fmt.Sprint(v))
		}
	}
	return nil
}
