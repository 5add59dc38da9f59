// Nothing wsguard-specific: webpack 5 emits the package's .wasm as an asset because
// its glue loads it with `new URL("wsguard_bg.wasm", import.meta.url)`.
import HtmlWebpackPlugin from "html-webpack-plugin";
import path from "node:path";
import { fileURLToPath } from "node:url";

export default {
  entry: "./main.js",
  output: {
    path: path.join(path.dirname(fileURLToPath(import.meta.url)), "dist"),
    filename: "[name].[contenthash].js",
    clean: true,
  },
  plugins: [new HtmlWebpackPlugin({ template: "index.html" })],
};
