package mailer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuiltinBrowser opens the HTML of every built-in mail in headless
// Chromium at 375 px (a phone) and 1024 px wide and checks that the page
// does not scroll sideways and that the code box or button is inside the
// first screen (375×812 and 1024×768). It writes a PNG of each mail at
// each width, and a dark-mode one at 375 px, to $MAILER_SCREENSHOTS, or
// to testdata/screenshots with -update (the copies committed for review),
// or else to a mailer-screenshots directory under the system's temporary
// directory; the test's log says where.
//
// Chromium cannot make a window narrower than 500 px, so each mail is
// shown in an iframe of the exact size (an iframe is a viewport of its
// own: media queries and innerWidth follow it), all mails in one page:
// one browser run measures, two more take the light and dark pictures,
// which are then cut into one PNG per mail.
//
// The test skips when no Chromium is installed, unless
// MAILER_REQUIRE_CHROMIUM is set (.ci/run sets it after installing
// Chromium), and then fails instead.
func TestBuiltinBrowser(t *testing.T) {
	if os.Getenv("MAILER_TEST_LONG") == "" && os.Getenv("MAILER_REQUIRE_CHROMIUM") == "" {
		t.Skip("runs a browser: set MAILER_TEST_LONG=1 to run it, as .ci/run does")
	}
	bin := findChromium()
	if bin == "" {
		if os.Getenv("MAILER_REQUIRE_CHROMIUM") != "" {
			t.Fatal("MAILER_REQUIRE_CHROMIUM is set but no chromium was found (set MAILER_CHROMIUM to its path)")
		}
		t.Skip("Chromium not found: skipping the browser check of the built-in templates (install it with apt-get install chromium, or set MAILER_CHROMIUM)")
	}
	set := builtinSet(t)
	var frames []frame
	for _, c := range builtinCases("", "") {
		r, err := set.Render(c.name, c.locale, c.data)
		require.NoError(t, err)
		for _, vp := range []struct{ w, h int }{{375, 812}, {1024, 768}} {
			frames = append(frames, frame{id: fmt.Sprintf("%s.%d", c.id(), vp.w), html: r.HTML, w: vp.w, h: vp.h})
		}
	}
	dir := screenshotDir(t)

	// 1. Measure, each frame at its viewport size.
	out := runChromium(t, bin, measurePage(frames), 1500, 900, "--dump-dom")
	res := between(string(out), `<pre id="result">`, `</pre>`)
	require.NotEmpty(t, res, "no measurements in the page Chromium dumped:\n%.2000s", out)
	var got map[string]measure
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(res)), &got))
	for i, f := range frames {
		m, ok := got[f.id]
		if !assert.True(t, ok, f.id) {
			continue
		}
		t.Logf("%s: scrollWidth %d, innerWidth %d, height %d, action %+v", f.id, m.ScrollWidth, m.InnerWidth, m.Height, m.Action)
		assert.Equal(t, f.w, m.InnerWidth, "%s: viewport width", f.id)
		assert.LessOrEqual(t, m.ScrollWidth, m.InnerWidth, "%s: scrolls sideways", f.id)
		assert.False(t, m.Script, "%s: has a script", f.id)
		if assert.NotNil(t, m.Action, "%s: no code box or button", f.id) {
			a := m.Action
			assert.True(t, a.Left >= 0 && a.Right <= float64(m.InnerWidth) && a.Top >= 0 && a.Bottom <= float64(m.InnerHeight),
				"%s: the code box or button %+v is not inside the first screen %dx%d", f.id, a, m.InnerWidth, m.InnerHeight)
			assert.Greater(t, a.Right-a.Left, 80.0, "%s: action too narrow", f.id)
		}
		frames[i].h = max(m.Height, 1) // full height for the pictures
	}
	if t.Failed() {
		return
	}

	// 2. Pictures: all frames at full height, light, then the phone
	// frames in dark mode.
	shoot := func(frames []frame, suffix string, extra ...string) {
		page, w, h := screenshotPage(frames)
		pngPath := filepath.Join(t.TempDir(), "all.png")
		runChromium(t, bin, page, w, h, append(extra, "--screenshot="+pngPath)...)
		all := readPNG(t, pngPath)
		for _, f := range frames {
			path := filepath.Join(dir, f.id+suffix+".png")
			writePNG(t, path, crop(all, image.Rect(f.x, f.y, f.x+f.w, f.y+f.h)))
		}
	}
	shoot(frames, "")
	var phones []frame
	for _, f := range frames {
		if f.w == 375 {
			phones = append(phones, f)
		}
	}
	shoot(phones, ".dark", "--blink-settings=preferredColorScheme=0")
	t.Logf("screenshots of the built-in templates: %s", dir)
}

// frame is one mail shown at one width.
type frame struct {
	id   string // "verification.zh-CN.375"
	html string
	w, h int
	x, y int // position in the screenshot page
}

// measure is what the page script reports for a frame.
type measure struct {
	ScrollWidth int  `json:"scrollWidth"`
	InnerWidth  int  `json:"innerWidth"`
	InnerHeight int  `json:"innerHeight"`
	Height      int  `json:"height"`
	Script      bool `json:"script"`
	Action      *struct {
		Left, Right, Top, Bottom float64
	} `json:"action"`
}

// measureScript runs in the test page, not in the mails: after every
// frame has loaded it writes the measurements as JSON into a <pre>.
const measureScript = `<script>
window.addEventListener("load", function () {
  var out = {};
  document.querySelectorAll("iframe").forEach(function (f) {
    var d = f.contentDocument, w = f.contentWindow;
    var a = d.querySelector(".code, .button a"), r = a && a.getBoundingClientRect();
    out[f.dataset.id] = {
      scrollWidth: d.documentElement.scrollWidth, innerWidth: w.innerWidth, innerHeight: w.innerHeight,
      height: Math.ceil(Math.max(d.body.scrollHeight, d.documentElement.getBoundingClientRect().height)), script: !!d.querySelector("script"),
      action: r && {Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom}
    };
  });
  var pre = document.createElement("pre");
  pre.id = "result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>`

func iframe(f frame, style string) string {
	return fmt.Sprintf(`<iframe data-id="%s" style="border:0;display:block;width:%dpx;height:%dpx;%s" srcdoc="%s"></iframe>`+"\n",
		f.id, f.w, f.h, style, html.EscapeString(f.html))
}

func measurePage(frames []frame) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"margin:0\">\n")
	for _, f := range frames {
		b.WriteString(iframe(f, ""))
	}
	b.WriteString(measureScript + "</body></html>\n")
	return b.String()
}

// screenshotPage places the frames in rows of two (375 px, then 1024 px)
// and returns the page and the window size that shows all of it.
func screenshotPage(frames []frame) (page string, w, h int) {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"margin:0;background:#808080\">\n")
	x, rowH := 0, 0
	for i := range frames {
		f := &frames[i]
		if x > 0 && (f.w == 375 || x+f.w > 1500) { // a new row
			h += rowH + 20
			x, rowH = 0, 0
		}
		f.x, f.y = x, h
		x += f.w + 20
		w = max(w, x)
		rowH = max(rowH, f.h)
		b.WriteString(iframe(*f, fmt.Sprintf("position:absolute;left:%dpx;top:%dpx", f.x, f.y)))
	}
	h += rowH
	b.WriteString("</body></html>\n")
	return b.String(), max(w, 500), h
}

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	if p := os.Getenv("MAILER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium opens page (written to a file) in a headless window of w×h
// px with args added, and returns its standard output.
func runChromium(t *testing.T, bin, page string, w, h int, args ...string) []byte {
	t.Helper()
	tmp := t.TempDir()
	pagePath := filepath.Join(tmp, "page.html")
	require.NoError(t, os.WriteFile(pagePath, []byte(page), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + filepath.Join(tmp, "profile"),
		fmt.Sprintf("--window-size=%d,%d", w, h),
	}, append(args, "file://"+pagePath)...)...)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium timed out; stderr:\n%s", stderr.String())
	}
	require.NoError(t, err, "chromium: %s", stderr.String())
	return stdout.Bytes()
}

// screenshotDir returns the directory for the PNG files, created.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("MAILER_SCREENSHOTS")
	switch {
	case *update:
		dir = filepath.Join("testdata", "screenshots")
	case dir == "":
		dir = filepath.Join(os.TempDir(), "mailer-screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	return abs
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	return img
}

func crop(img image.Image, r image.Rectangle) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	require.NoError(t, enc.Encode(&buf, img))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}
