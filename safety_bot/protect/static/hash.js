/* safety-bot "protect my pictures": hashing on the member's own device.
 *
 * Written for this project, no third-party code. Nothing here sends anything anywhere: it reads a
 * file the member picked, computes hashes in memory and returns them.
 *
 *  - Pictures: PDQ (Meta's perceptual hash, 256 bits as 64 hex characters, plus its quality 0-100)
 *    and the MD5 of the file. To give the same hash as the bot's Python hashing (pdqhash after
 *    safety_bot.media.decode), the picture is prepared the way the bot prepares it: EXIF orientation
 *    applied (createImageBitmap imageOrientation 'from-image'), transparency on white, a JPEG reduced
 *    like Pillow's draft() (1/2, 1/4 or 1/8 while both sides stay >= 256), then a bilinear
 *    (triangle-filter) downscale so the long side is at most 512, with Pillow's integer pre-reduction
 *    (reducing_gap 3). Then PDQ proper: luminance, two passes of Jarosz box filters, decimation to
 *    64x64, 2-D DCT keeping the 16x16 block after the DC term, bits above the median.
 *    With the PDQ come the seven hashes of the picture turned and mirrored (from the same DCT), which the
 *    bot banks too, so a mirrored or rotated copy still matches.
 *  - Videos: the MD5 of the file (StopNCII's "VideoMD5"), read in slices.
 */
(function (global) {
  "use strict";

  var HASH_SIZE = 512;   // long side before PDQ (safety_bot.media.decode.HASH_SIZE)
  var DRAFT_SIZE = 256;  // JPEG draft target (safety_bot.media.decode.DRAFT_SIZE)
  var MAX_CANVAS_PIXELS = 16 * 1024 * 1024;  // phones refuse bigger canvases: decode smaller first

  // ------------------------------------------------------------------ PDQ core
  var DCT = (function () {
    var d = new Float64Array(16 * 64);
    var scale = Math.sqrt(2 / 64);
    for (var i = 0; i < 16; i++) {
      for (var j = 0; j < 64; j++) {
        d[i * 64 + j] = Math.fround(scale * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1)));
      }
    }
    return d;
  })();

  function jaroszWindow(oldDim, newDim) {
    return Math.floor((oldDim + 2 * newDim - 1) / (2 * newDim));
  }

  // One 1-D box filter along a row or column (stride), window centred as in the reference.
  function box1d(src, dst, start, length, stride, full) {
    var half = Math.floor((full + 2) / 2);
    var p1 = half - 1, p2 = full - half + 1, p3 = length - full, p4 = half - 1;
    var li = start, ri = start, oi = start, sum = 0, n = 0, i;
    for (i = 0; i < p1; i++) { sum += src[ri]; n++; ri += stride; }
    for (i = 0; i < p2; i++) { sum += src[ri]; n++; dst[oi] = sum / n; ri += stride; oi += stride; }
    for (i = 0; i < p3; i++) { sum += src[ri]; sum -= src[li]; dst[oi] = sum / n; li += stride; ri += stride; oi += stride; }
    for (i = 0; i < p4; i++) { sum -= src[li]; n--; dst[oi] = sum / n; li += stride; oi += stride; }
  }

  function jarosz(buf1, buf2, rows, cols, winRows, winCols, passes) {
    for (var k = 0; k < passes; k++) {
      for (var i = 0; i < rows; i++) box1d(buf1, buf2, i * cols, cols, 1, winRows);
      for (var j = 0; j < cols; j++) box1d(buf2, buf1, j, rows, cols, winCols);
    }
  }

  function decimate(src, rows, cols) {
    var out = new Float32Array(64 * 64);
    for (var i = 0; i < 64; i++) {
      var ini = Math.floor(((i + 0.5) * rows) / 64);
      for (var j = 0; j < 64; j++) {
        var inj = Math.floor(((j + 0.5) * cols) / 64);
        out[i * 64 + j] = src[ini * cols + inj];
      }
    }
    return out;
  }

  function quality(b) {
    var sum = 0, i, j, d;
    for (i = 0; i < 63; i++) {
      for (j = 0; j < 64; j++) { d = Math.trunc(((b[i * 64 + j] - b[(i + 1) * 64 + j]) * 100) / 255); sum += Math.abs(d); }
    }
    for (i = 0; i < 64; i++) {
      for (j = 0; j < 63; j++) { d = Math.trunc(((b[i * 64 + j] - b[i * 64 + j + 1]) * 100) / 255); sum += Math.abs(d); }
    }
    return Math.min(100, Math.floor(sum / 90));
  }

  function dct64to16(a) {
    var t = new Float64Array(16 * 64), out = new Float64Array(256), i, j, k, s;
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 64; j++) {
        s = 0;
        for (k = 0; k < 64; k++) s += DCT[i * 64 + k] * a[k * 64 + j];
        t[i * 64 + j] = s;
      }
    }
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 16; j++) {
        s = 0;
        for (k = 0; k < 64; k++) s += t[i * 64 + k] * DCT[j * 64 + k];
        out[i * 16 + j] = s;
      }
    }
    return out;
  }

  function bitsToHex(dct) {
    var sorted = Array.prototype.slice.call(dct).sort(function (x, y) { return x - y; });
    var median = sorted[127];  // the reference's Torben median of 256 values: the 128th smallest
    var words = new Array(16).fill(0);
    for (var k = 0; k < 256; k++) {
      if (dct[k] > median) words[k >> 4] |= (1 << (k & 15));
    }
    var hex = "";
    for (var w = 15; w >= 0; w--) hex += ("000" + words[w].toString(16)).slice(-4);
    return hex;
  }

  // The hashes of the picture turned and mirrored, straight from its DCT (as the reference's
  // dct16OriginalTo*): rotate 90, 180, 270, flip x, flip y, flip about both diagonals.
  var DIHEDRAL = [
    function (i, j, a) { return [j, i, (j & 1) ? a : -a]; },
    function (i, j, a) { return [i, j, ((i + j) & 1) ? -a : a]; },
    function (i, j, a) { return [j, i, (i & 1) ? a : -a]; },
    function (i, j, a) { return [i, j, (i & 1) ? a : -a]; },
    function (i, j, a) { return [i, j, (j & 1) ? a : -a]; },
    function (i, j, a) { return [j, i, a]; },
    function (i, j, a) { return [j, i, ((i + j) & 1) ? -a : a]; },
  ];

  function dihedral(dct) {
    return DIHEDRAL.map(function (f) {
      var b = new Float64Array(256);
      for (var i = 0; i < 16; i++) {
        for (var j = 0; j < 16; j++) { var r = f(i, j, dct[i * 16 + j]); b[r[0] * 16 + r[1]] = r[2]; }
      }
      return bitsToHex(b);
    });
  }

  /** PDQ of RGB(A) pixels (alpha ignored: composite first). Returns {pdq, quality, variants}: variants
   *  are the other seven turned or mirrored hashes (the bot banks them too), without repeats. */
  function pdqFromRGBA(px, width, height) {
    var n = width * height;
    if (width < 5 || height < 5) return { pdq: "0".repeat(64), quality: 0, variants: [] };
    var buf1 = new Float32Array(n), buf2 = new Float32Array(n);
    for (var i = 0, p = 0; i < n; i++, p += 4) {
      buf1[i] = Math.fround(0.299 * px[p] + 0.587 * px[p + 1] + 0.114 * px[p + 2]);
    }
    jarosz(buf1, buf2, height, width, jaroszWindow(width, 64), jaroszWindow(height, 64), 2);
    var small = decimate(buf1, height, width), dct = dct64to16(small), pdq = bitsToHex(dct);
    var variants = dihedral(dct).filter(function (v, k, all) { return v !== pdq && all.indexOf(v) === k; });
    return { pdq: pdq, quality: quality(small), variants: variants };
  }

  // ------------------------------------------------------------------ resampling as Pillow does it
  // Pillow's reduce(): the mean of factor x factor blocks (partial blocks at the edges).
  function reduceBox(px, w, h, fx, fy) {
    var ow = Math.ceil(w / fx), oh = Math.ceil(h / fy), out = new Uint8ClampedArray(ow * oh * 4);
    for (var oy = 0; oy < oh; oy++) {
      var y0 = oy * fy, y1 = Math.min(h, y0 + fy);
      for (var ox = 0; ox < ow; ox++) {
        var x0 = ox * fx, x1 = Math.min(w, x0 + fx), r = 0, g = 0, b = 0, cnt = (y1 - y0) * (x1 - x0);
        for (var y = y0; y < y1; y++) {
          var row = y * w;
          for (var x = x0; x < x1; x++) { var q = (row + x) * 4; r += px[q]; g += px[q + 1]; b += px[q + 2]; }
        }
        var o = (oy * ow + ox) * 4;
        out[o] = Math.floor((r + cnt / 2) / cnt); out[o + 1] = Math.floor((g + cnt / 2) / cnt);
        out[o + 2] = Math.floor((b + cnt / 2) / cnt); out[o + 3] = 255;
      }
    }
    return { px: out, w: ow, h: oh };
  }

  // Pillow's precompute_coeffs for the bilinear (triangle) filter, in 22-bit fixed point.
  function coeffs(inSize, in0, in1, outSize) {
    var scale = (in1 - in0) / outSize, filterscale = Math.max(1, scale), support = filterscale;
    var list = [];
    for (var xx = 0; xx < outSize; xx++) {
      var center = in0 + (xx + 0.5) * scale, ss = 1 / filterscale;
      var xmin = Math.max(0, Math.trunc(center - support + 0.5));
      var xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
      var ws = [], total = 0;
      for (var x = 0; x < xmax; x++) {
        var v = Math.abs((x + xmin - center + 0.5) * ss), wgt = v < 1 ? 1 - v : 0;
        ws.push(wgt); total += wgt;
      }
      var fixed = ws.map(function (wgt) {
        var k = total !== 0 ? wgt / total : wgt;
        return Math.trunc(k * (1 << 22) + (k < 0 ? -0.5 : 0.5));
      });
      list.push({ min: xmin, k: fixed });
    }
    return list;
  }

  function clip8(acc) {
    var v = Math.floor(acc / 4194304);  // >> 22 on a value that may exceed 32 bits
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }

  // One separable pass of Pillow's 8-bit resampling: along x (horizontal) or y, rounding to 8 bits.
  function pass(px, w, h, horizontal, outLen, boxLen) {
    var inLen = horizontal ? w : h, cs = coeffs(inLen, 0, boxLen, outLen);
    var ow = horizontal ? outLen : w, oh = horizontal ? h : outLen;
    var out = new Uint8ClampedArray(ow * oh * 4), x, y, k, i, c, r, g, b, step;
    step = horizontal ? 4 : w * 4;
    for (y = 0; y < oh; y++) {
      for (x = 0; x < ow; x++) {
        c = cs[horizontal ? x : y];
        i = horizontal ? (y * w + c.min) * 4 : (c.min * w + x) * 4;
        r = g = b = 2097152;
        for (k = 0; k < c.k.length; k++, i += step) {
          r += px[i] * c.k[k]; g += px[i + 1] * c.k[k]; b += px[i + 2] * c.k[k];
        }
        i = (y * ow + x) * 4;
        out[i] = clip8(r); out[i + 1] = clip8(g); out[i + 2] = clip8(b); out[i + 3] = 255;
      }
    }
    return out;
  }

  // Pillow's resize: both passes when needed; the vertical pass first for tall images (h > 2w), as
  // Pillow (13) does. boxW/boxH: the source extent after an integer pre-reduction (may be fractional).
  function resizeBilinear(px, w, h, ow, oh, boxW, boxH) {
    var needH = ow !== w || boxW !== ow, needV = oh !== h || boxH !== oh;
    if (h > 2 * w) {
      if (needV) { px = pass(px, w, h, false, oh, boxH); h = oh; }
      if (needH) { px = pass(px, w, h, true, ow, boxW); }
    } else {
      if (needH) { px = pass(px, w, h, true, ow, boxW); w = ow; }
      if (needV) { px = pass(px, w, h, false, oh, boxH); }
    }
    return px;
  }

  /** The bot's preparation of decoded pixels: JPEG draft, then long side <= 512 (Pillow bilinear). */
  function prepare(px, w, h, isJpeg) {
    if (isJpeg) {
      var s = Math.min(Math.floor(w / DRAFT_SIZE), Math.floor(h / DRAFT_SIZE));
      var scale = s >= 8 ? 8 : s >= 4 ? 4 : s >= 2 ? 2 : 1;
      if (scale > 1) { var d = reduceBox(px, w, h, scale, scale); px = d.px; w = d.w; h = d.h; }
    }
    var longest = Math.max(w, h);
    if (longest <= HASH_SIZE) return { px: px, w: w, h: h };
    var f = HASH_SIZE / longest;
    var ow = Math.max(1, pyRound(w * f)), oh = Math.max(1, pyRound(h * f));
    var boxW = w, boxH = h;
    var fx = Math.max(1, Math.trunc(w / ow / 3)), fy = Math.max(1, Math.trunc(h / oh / 3));
    if (fx > 1 || fy > 1) {
      var r = reduceBox(px, w, h, fx, fy);
      boxW = w / fx; boxH = h / fy; px = r.px; w = r.w; h = r.h;
    }
    return { px: resizeBilinear(px, w, h, ow, oh, boxW, boxH), w: ow, h: oh };
  }

  // Python's round(): halves go to the even neighbour (the bot computes the sizes with it).
  function pyRound(v) {
    var fl = Math.floor(v);
    if (v - fl === 0.5) return fl % 2 === 0 ? fl : fl + 1;
    return Math.round(v);
  }

  // ------------------------------------------------------------------ MD5 (RFC 1321), incremental
  var MD5_S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21,
    6, 10, 15, 21, 6, 10, 15, 21];
  var MD5_K = (function () {
    var k = new Int32Array(64);
    for (var i = 0; i < 64; i++) k[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
    return k;
  })();

  function Md5() {
    this.h = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.buf = new Uint8Array(64);
    this.bufLen = 0;
    this.total = 0;
    this.m = new Int32Array(16);
  }

  Md5.prototype.block = function (bytes, off) {
    var m = this.m, i;
    for (i = 0; i < 16; i++) {
      var p = off + i * 4;
      m[i] = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
    }
    var a = this.h[0], b = this.h[1], c = this.h[2], d = this.h[3], f, g, t;
    for (i = 0; i < 64; i++) {
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
      else { f = c ^ (b | ~d); g = (7 * i) & 15; }
      t = d; d = c; c = b;
      var x = (a + f + MD5_K[i] + m[g]) | 0;
      b = (b + ((x << MD5_S[i]) | (x >>> (32 - MD5_S[i])))) | 0;
      a = t;
    }
    this.h[0] = (this.h[0] + a) | 0; this.h[1] = (this.h[1] + b) | 0;
    this.h[2] = (this.h[2] + c) | 0; this.h[3] = (this.h[3] + d) | 0;
  };

  Md5.prototype.update = function (bytes) {
    var i = 0, n = bytes.length;
    this.total += n;
    if (this.bufLen) {
      while (i < n && this.bufLen < 64) this.buf[this.bufLen++] = bytes[i++];
      if (this.bufLen < 64) return this;
      this.block(this.buf, 0); this.bufLen = 0;
    }
    for (; i + 64 <= n; i += 64) this.block(bytes, i);
    while (i < n) this.buf[this.bufLen++] = bytes[i++];
    return this;
  };

  Md5.prototype.hex = function () {
    var bits = this.total * 8, pad = new Uint8Array(((this.bufLen < 56 ? 56 : 120) - this.bufLen) + 8);
    pad[0] = 0x80;
    var lo = bits >>> 0, hi = Math.floor(bits / 4294967296) >>> 0, e = pad.length - 8;
    for (var i = 0; i < 4; i++) { pad[e + i] = (lo >>> (8 * i)) & 255; pad[e + 4 + i] = (hi >>> (8 * i)) & 255; }
    this.update(pad);
    var out = "";
    for (var w = 0; w < 4; w++) for (var j = 0; j < 4; j++) out += ("0" + ((this.h[w] >>> (8 * j)) & 255).toString(16)).slice(-2);
    return out;
  };

  function md5Bytes(bytes) { return new Md5().update(bytes).hex(); }

  async function md5File(file) {
    var h = new Md5(), step = 4 * 1024 * 1024;
    for (var off = 0; off < file.size; off += step) {
      h.update(new Uint8Array(await file.slice(off, off + step).arrayBuffer()));
    }
    return h.hex();
  }

  // ------------------------------------------------------------------ EXIF orientation
  // The bot reads the orientation itself (JPEG APP1, PNG eXIf, WebP EXIF chunk), resizes the stored
  // pixels and turns the result upright. Browsers apply it for JPEG (and Chromium for PNG), not for WebP.
  // To give the same numbers, the page works on the stored pixels too and turns them at the end.
  function u16(b, p, le) { return le ? b[p] | (b[p + 1] << 8) : (b[p] << 8) | b[p + 1]; }
  function u32(b, p, le) { return le ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 16777216
                                     : b[p] * 16777216 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]); }

  function tiffOrientation(b, start, end) {
    if (end - start > 6 && b[start] === 0x45 && b[start + 1] === 0x78 && b[start + 2] === 0x69 && b[start + 3] === 0x66) {
      start += 6;  // "Exif\0\0"
    }
    if (end - start < 8) return 1;
    var le = b[start] === 0x49;
    if (!le && b[start] !== 0x4d) return 1;
    var ifd = start + u32(b, start + 4, le);
    if (ifd + 2 > end) return 1;
    var n = u16(b, ifd, le);
    for (var i = 0; i < n; i++) {
      var e = ifd + 2 + i * 12;
      if (e + 12 > end) return 1;
      if (u16(b, e, le) === 0x0112) {
        var v = u16(b, e + 8, le);
        return v >= 1 && v <= 8 ? v : 1;
      }
    }
    return 1;
  }

  /** {format, orientation, width, height} from a file's bytes (width/height: as stored, when known). */
  function inspect(b) {
    var p, len, type;
    if (b.length > 3 && b[0] === 0xff && b[1] === 0xd8) {
      p = 2;
      while (p + 4 <= b.length && b[p] === 0xff) {
        var marker = b[p + 1];
        if (marker === 0xd9 || marker === 0xda) break;
        len = u16(b, p + 2, false);
        if (marker === 0xe1) {
          var o = tiffOrientation(b, p + 4, Math.min(b.length, p + 2 + len));
          if (o !== 1) return { format: "jpeg", orientation: o };
        }
        p += 2 + len;
      }
      return { format: "jpeg", orientation: 1 };
    }
    if (b.length > 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
      var info = { format: "png", orientation: 1, width: u32(b, 16, false), height: u32(b, 20, false) };
      for (p = 8; p + 8 <= b.length;) {
        len = u32(b, p, false);
        type = String.fromCharCode(b[p + 4], b[p + 5], b[p + 6], b[p + 7]);
        if (type === "eXIf") { info.orientation = tiffOrientation(b, p + 8, Math.min(b.length, p + 8 + len)); break; }
        if (type === "IEND") break;
        p += 12 + len;
      }
      return info;
    }
    if (b.length > 16 && String.fromCharCode(b[0], b[1], b[2], b[3], b[8], b[9], b[10], b[11]) === "RIFFWEBP") {
      var w = { format: "webp", orientation: 1 };
      for (p = 12; p + 8 <= b.length;) {
        type = String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
        len = u32(b, p + 4, true);
        if (type === "VP8X" && p + 18 <= b.length) {
          w.width = 1 + (b[p + 12] | (b[p + 13] << 8) | (b[p + 14] << 16));
          w.height = 1 + (b[p + 15] | (b[p + 16] << 8) | (b[p + 17] << 16));
        }
        if (type === "EXIF") w.orientation = tiffOrientation(b, p + 8, Math.min(b.length, p + 8 + len));
        p += 8 + len + (len & 1);
      }
      return w;
    }
    return { format: "other", orientation: 1 };
  }

  // Turn RGBA pixels (w x h) by an EXIF orientation: the upright picture from the stored one.
  function orient(px, w, h, o) {
    if (o === 1) return { px: px, w: w, h: h };
    var swap = o >= 5, ow = swap ? h : w, oh = swap ? w : h, out = new Uint8ClampedArray(ow * oh * 4);
    for (var y = 0; y < oh; y++) {
      for (var x = 0; x < ow; x++) {
        var sx, sy;
        switch (o) {
          case 2: sx = w - 1 - x; sy = y; break;
          case 3: sx = w - 1 - x; sy = h - 1 - y; break;
          case 4: sx = x; sy = h - 1 - y; break;
          case 5: sx = y; sy = x; break;
          case 6: sx = y; sy = h - 1 - x; break;
          case 7: sx = w - 1 - y; sy = h - 1 - x; break;
          default: sx = w - 1 - y; sy = x;  // 8
        }
        var s = (sy * w + sx) * 4, d = (y * ow + x) * 4;
        out[d] = px[s]; out[d + 1] = px[s + 1]; out[d + 2] = px[s + 2]; out[d + 3] = px[s + 3];
      }
    }
    return { px: out, w: ow, h: oh };
  }

  var UNDO = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6 };

  // ------------------------------------------------------------------ files
  function kindOf(file, head) {
    var type = (file.type || "").toLowerCase();
    if (type.indexOf("video/") === 0) return "video";
    if (type.indexOf("image/") === 0) return "picture";
    // Containers by their first bytes when the browser gave no type.
    var ascii = String.fromCharCode.apply(null, Array.prototype.slice.call(head, 4, 12));
    if (ascii.indexOf("ftyp") === 0 && !/^ftyp(heic|heix|mif1|avif)/.test(ascii)) return "video";
    if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return "video";  // webm/mkv
    return "picture";
  }

  async function decodePixels(file) {
    var opts = { imageOrientation: "from-image", premultiplyAlpha: "default", colorSpaceConversion: "none" };
    var bitmap = await createImageBitmap(file, opts);
    var w = bitmap.width, h = bitmap.height, reduced = false;
    if (w * h > MAX_CANVAS_PIXELS) {  // too big for a phone's canvas: let the browser halve it first
      var f = 1;
      while ((w / f) * (h / f) > MAX_CANVAS_PIXELS) f *= 2;
      bitmap.close();
      w = Math.ceil(w / f); h = Math.ceil(h / f);
      bitmap = await createImageBitmap(file, Object.assign({ resizeWidth: w, resizeHeight: h, resizeQuality: "medium" }, opts));
      reduced = true;
    }
    var canvas = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(w, h) : document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#ffffff";  // transparency on white, as the bot does
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    var data = ctx.getImageData(0, 0, w, h).data;
    canvas.width = canvas.height = 1;  // let go of the pixels at once
    return { px: data, w: w, h: h, reduced: reduced };
  }

  /** Whether the browser already turned the picture upright (it does for JPEG; Chromium for PNG; not WebP). */
  function browserOriented(info, w, h) {
    if (info.orientation === 1) return false;
    if (info.orientation >= 5 && info.width && info.height && info.width !== info.height) {
      return w === info.height && h === info.width;  // the sides tell when they were swapped
    }
    return info.format !== "webp";
  }

  /** PDQ {pdq, quality} of decoded upright-or-not pixels, prepared exactly as the bot prepares a file. */
  function pdqOfDecoded(d, info) {
    var o = info.orientation, px = d.px, w = d.w, h = d.h;
    if (browserOriented(info, w, h)) {  // back to the stored pixels, as the bot resizes those
      var back = orient(px, w, h, UNDO[o]);
      px = back.px; w = back.w; h = back.h;
    }
    var ready = prepare(px, w, h, info.format === "jpeg" && !d.reduced);
    var up = orient(ready.px, ready.w, ready.h, o);
    return pdqFromRGBA(up.px, up.w, up.h);
  }

  /** Hash one picked file. Resolves to {kind: "picture", pdq, quality, md5, variants} or {kind: "video", md5}.
   *  Rejects with Error("unreadable") when a picture cannot be decoded by this browser. */
  async function hashFile(file) {
    var head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    if (kindOf(file, head) === "video") return { kind: "video", md5: await md5File(file) };
    var bytes = new Uint8Array(await file.arrayBuffer());
    var md5 = md5Bytes(bytes), info = inspect(bytes);
    bytes = null;
    var decoded;
    try {
      decoded = await decodePixels(file);
    } catch (e) {
      throw new Error("unreadable");
    }
    var h = pdqOfDecoded(decoded, info);
    return { kind: "picture", pdq: h.pdq, quality: h.quality, md5: md5, variants: h.variants };
  }

  global.SafetyBotHash = {
    hashFile: hashFile,
    pdqFromRGBA: pdqFromRGBA,
    prepare: prepare,
    md5Bytes: md5Bytes,
    md5File: md5File,
    inspect: inspect,
    orient: orient,
  };
})(typeof window !== "undefined" ? window : globalThis);
