package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var (
	colNfsgw   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colGanesha = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	colRaw     = color.RGBA{0x99, 0x99, 0x99, 0xff}
	colText    = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colAxis    = color.RGBA{0xbb, 0xbb, 0xbb, 0xff}
	colDot     = color.RGBA{0x00, 0x00, 0x00, 0xff}
)

// drawChart draws a horizontal bar chart of one workload: the medians of
// nfsgw and Ganesha (and of the raw backend when it is on the same scale),
// each run as a black tick on its bar.
func drawChart(path string, r row) error {
	const w, barH, gap, left, right, top = 640, 34, 14, 90, 150, 46
	type bar struct {
		label   string
		c       color.RGBA
		v       float64
		runs    []float64
		atLeast bool
	}
	bars := []bar{{"nfsgw", colNfsgw, r.Nfsgw, r.NfsgwRuns, r.NfsgwAtLeast}, {"Ganesha", colGanesha, r.Ganesha, r.GaneshaRuns, r.GaneshaAtLeast}}
	peak := max(r.Nfsgw, r.Ganesha)
	for _, x := range append(slices.Clone(r.NfsgwRuns), r.GaneshaRuns...) {
		peak = max(peak, x)
	}
	// The raw backend often runs 10-100x faster than any network server:
	// draw it only when it fits on the same scale, else name it in text.
	rawNote := ""
	if r.Raw > 0 {
		if r.Raw <= 3*peak {
			bars = append(bars, bar{"raw", colRaw, r.Raw, nil, false})
			peak = max(peak, r.Raw)
		} else {
			rawNote = fmt.Sprintf("raw backend: %s %s (off scale)", fmtVal(r.Raw, r.Unit), r.Unit)
		}
	}
	h := top + len(bars)*(barH+gap) + 30
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, 10, 16, r.Title)
	sub := fmt.Sprintf("%s; nfsgw/Ganesha %s", r.Unit, fmtRatio(r.Ratio()))
	if r.LowerIsBetter {
		sub = fmt.Sprintf("%s, lower is better; Ganesha/nfsgw %s", r.Unit, fmtRatio(r.Ratio()))
	}
	text(img, 10, 32, sub)
	if peak <= 0 {
		peak = 1
	}
	scale := float64(w-left-right) / peak
	for i, b := range bars {
		y := top + i*(barH+gap)
		text(img, 10, y+barH/2+4, b.label)
		bw := int(b.v * scale)
		fill(img, image.Rect(left, y, left+max(bw, 1), y+barH), b.c)
		end := bw
		for _, x := range b.runs {
			px := int(x * scale)
			fill(img, image.Rect(left+px-1, y+4, left+px+1, y+barH-4), colDot)
			end = max(end, px)
		}
		label := fmtVal(b.v, r.Unit)
		if b.atLeast {
			label = "> " + label + " (gave up)"
		}
		text(img, left+end+6, y+barH/2+4, label)
	}
	fill(img, image.Rect(left-1, top-4, left, top+len(bars)*(barH+gap)-gap+4), colAxis)
	if rawNote != "" {
		text(img, 10, h-10, rawNote)
	} else {
		text(img, 10, h-10, "bars: medians; ticks: each run")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{colText}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
