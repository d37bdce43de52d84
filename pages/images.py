"""Images: a small vision transformer reads a handwritten digit as 16 patch tokens; see where its attention goes."""
from functools import partial

import numpy as np
import streamlit as st

import ui
from attention.domains import vision
from figures.vision import digit_figure, heads_overlay, mistakes_figure, overlay_panels, probability_figure
from components.draw_digit import draw_digit

SOURCES = ("test", "draw")
DEFAULT_PATCH = 5      # r1c1: on the stroke of most digits
MISTAKES_SHOWN = 12
ROLLOUT_CHECKED = 40   # held-out digits over which rollout is compared with occlusion


def read_pixels(raw: str | None) -> tuple[str, str | None]:
    if raw is None or not raw.strip():
        return "", None
    try:
        return vision.encode_pixels(vision.decode_pixels(raw)), None
    except ValueError as error:
        return "", f"{error} A blank pad is shown."


CONFIG = vision.VisionConfig()
STATE = ui.PageState("images", ui.Choice("source", SOURCES, noun="image source"), ui.Index("image", noun="test image"),
                     ui.Index("patch", DEFAULT_PATCH), ui.Custom("pixels", "", read_pixels), shared=())
STATE.load()

st.title("Images")
st.caption(
    "A transformer only knows how to compare tokens, so a picture has to become a list of them. A **vision "
    "transformer** (ViT) cuts the image into a grid of small square **patches** and treats each patch the way a "
    "language model treats a word: its pixels are flattened and mapped by one learned matrix to a vector, and a "
    "learned **position vector** is added so the model knows where on the grid the patch sat (the grid's order "
    "is otherwise invisible to attention). One extra token, **[CLS]**, holds no pixels: it collects from the patches "
    "through attention, and its final vector alone decides the class. Here the digits are "
    f"{CONFIG.image_size}×{CONFIG.image_size} pixels, cut into {CONFIG.patch_size}×{CONFIG.patch_size} patches: "
    f"{CONFIG.n_patches} patch tokens plus [CLS], through {CONFIG.n_layers} layers of {CONFIG.n_heads} heads of this "
    "project's own attention engine."
)
ui.show_url_notices()

config = CONFIG
trained = ui.load_demo(partial(vision.load_or_train, config), vision.is_cached(config),
                       "Training the vision transformer once on this machine (it is saved for every later visit)…")
data = trained.data

m1, m2, m3, m4 = st.columns(4)
m1.metric("ViT, held-out digits", f"{trained.vit_accuracy:.1%}", help=f"{len(data.test_labels)} digits the model never trained on.")
m2.metric("Logistic regression, same split", f"{trained.logistic_accuracy:.1%}",
          help="A linear model on the 64 raw pixels: the yardstick a small ViT should at least match.")
m3.metric("Training", f"{trained.seconds:.0f} s", help=f"Once per machine, on one CPU thread, seed {config.seed}; saved in {vision.cache_dir()}.")
m4.metric("Parameters", f"{sum(p.numel() for p in trained.network.parameters()):,}")


def open_mistake() -> None:
    choice = st.session_state.get("images_mistake_pick")
    if choice is not None:
        st.session_state["images_source"], st.session_state["images_image"] = "test", int(choice)


def pick_patch() -> None:
    points = [p for p in st.session_state["images_picture"].selection.points if p.get("curve_number") == 1]
    if points:
        st.session_state["images_patch"] = config.patch_at(points[0]["y"], points[0]["x"])


def take_drawing() -> None:
    pixels, notice = read_pixels(str(st.session_state["images_pad"].pixels))   # checked like a link's: it comes from the browser
    if notice is None:
        st.session_state["images_pixels"] = pixels


source = st.segmented_control("Image", SOURCES, key="images_source", format_func={"test": "A held-out digit", "draw": "Draw your own"}.get,
                              help="Pick one of the digits the model never saw in training, or draw one on an 8×8 pad.")
source = source or "test"
STATE.clamp("image", len(data.test_labels))
label = None
if source == "test":
    index = st.number_input("Held-out digit number", 0, len(data.test_labels) - 1, key="images_image", step=1,
                            help="Held-out digits count from 0.")
    image, label = data.test_images[int(index)], int(data.test_labels[int(index)])
else:
    if not st.session_state["images_pixels"]:   # start the pad from the chosen digit, so there is something to change
        st.session_state["images_pixels"] = vision.encode_pixels(data.test_images[int(st.session_state["images_image"])])
    draw_digit(st.session_state["images_pixels"], key="images_pad", on_change=take_drawing)
    image = vision.decode_pixels(st.session_state["images_pixels"])

result = ui.run_core("Reading the picture…", vision.attend_image, trained.network, image)
if result is None:
    st.stop()
probabilities, predicted = np.array(result.meta["probabilities"]), result.meta["prediction"]
STATE.clamp("patch", config.n_patches)
patch = int(st.session_state["images_patch"])

left, right = st.columns(2)
left.plotly_chart(digit_figure(image, config.patch_size, "The picture and its 16 patches (click one)", patch), width="stretch",
                  key="images_picture", selection_mode="points", on_select=pick_patch, config={"displayModeBar": False}, theme=None)
ui.chart(probability_figure(probabilities, label), "images_probabilities", slot=right)
verdict = f"The model reads a **{predicted}** ({probabilities[predicted]:.0%} sure)"
right.markdown(verdict + ("." if label is None else f"; the digit is a **{label}**" + (" ✓." if label == predicted else " ✗ — a mistake.")))

st.subheader("[CLS] → patches: what the class token gathers")
st.caption("Each square is one head: red where [CLS] puts its attention weight, on top of the picture. Rows are layers "
           "(0 nearest the pixels), columns heads. What [CLS] keeps for itself is not drawn, so a square's red sums to "
           "less than 1.")
ui.chart(heads_overlay(image, result, 0, config.patch_size), "images_cls")

left, middle, right = st.columns([1, 1, 2])
ui.chart(overlay_panels([image], [vision.rollout_map(result)], ["rollout: [CLS] ← patches"], 1, config.patch_size,
                        panel_height=320), "images_rollout", slot=left)
ui.chart(overlay_panels([image], [vision.occlusion_map(trained.network, image, predicted)],
                        [f"occlusion: drop of P({predicted})"], 1, config.patch_size, panel_height=320, scale="drop"),
         "images_occlusion", slot=middle)
agreement = vision.rollout_agreement(ROLLOUT_CHECKED)   # computed once per process
right.markdown(
    "**Attention rollout** (Abnar & Zuidema, 2020, left) multiplies the layers' head-averaged attention weights, with "
    "the residual connection counted as 0.5·I. It is made of weights alone: it ignores the value vectors, the output "
    "projections, the layer norms and the feed-forward layers, so it says where attention points, not how much of a "
    "patch reaches [CLS]. **Occlusion** (beside it) is measured on the output: how much the probability of the "
    f"predicted digit drops when each patch is blanked. On this ViT the two agree little: over {ROLLOUT_CHECKED} "
    f"held-out digits the median Spearman correlation of the rollout map with the occlusion drop of the true digit is "
    f"{agreement:.2f}."
)

st.subheader("Where does a patch look?")
st.selectbox("Patch", range(config.n_patches), key="images_patch", format_func=lambda p: f"{p} · row {p // config.grid}, column {p % config.grid}",
             help="Click a patch on the picture above, or pick it here; patches count row by row from the top left.")
ui.chart(heads_overlay(image, result, 1 + patch, config.patch_size, patch=patch), "images_patch_view")
st.caption("The blue square is the chosen patch (the query); red shows where it puts its attention weight, per layer and head.")

st.subheader("Mistakes, and what the model looked at")
wrong = vision.mistakes(trained)
st.caption(f"The ViT gets {len(wrong)} of the {len(data.test_labels)} held-out digits wrong. Each is drawn with its rollout "
           "map: where [CLS]'s head-averaged attention points through the layers (weights only, not what the output used).")
if wrong:
    shown = wrong[:MISTAKES_SHOWN]
    ui.chart(mistakes_figure(data.test_images, vision.mistake_rollouts(trained, shown), config.patch_size), "images_mistakes")
    st.pills("Open a mistake", [i for i, _, _ in shown], key="images_mistake_pick", on_change=open_mistake,
             format_func=lambda i: f"#{i}")

params = {"source": "draw", "pixels": st.session_state["images_pixels"]} if source == "draw" else {"image": int(index)}
STATE.share("", **params, patch=patch)
